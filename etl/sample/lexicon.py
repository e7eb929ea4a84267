"""The lexicon of the sample crawl's English: topic word lists, general words, inflection.

:mod:`etl.sample.text` builds sentences from these; this module holds the words and the
spelling rules that inflect them (plurals, verb forms, articles), so the grammar stays
readable. ``TOPICS`` maps each of the 16 topics to its ``people``, ``nouns``, ``verbs`` and
``adjs`` word lists.

Example::

    >>> verb_forms("stop")
    ('stop', 'stops', 'stopped', 'stopped', 'stopping')
    >>> noun_forms("knife/knives city")
    [('knife', 'knives'), ('city', 'cities')]
    >>> len(TOPICS)
    16
"""

from __future__ import annotations

from functools import cache, lru_cache

# -- lexicon ------------------------------------------------------------------------------
# "[topic]" then "people:", "nouns:", "verbs:", "adjs:" lists; "word/plural" marks an irregular
# plural and "_" joins a multi-word entry.
_TOPICS = """
[cooking]
people: chef cook baker home_cook butcher caterer food_writer grandmother line_cook pastry_chef
  dinner_guest restaurant_owner
nouns: recipe sauce oven pan skillet knife/knives onion clove tomato/tomatoes potato/potatoes dough
  loaf/loaves pie cake cookie dish meal dinner spoon bowl pot marinade spice herb lemon carrot
  pepper steak salad soup stew dumpling casserole ingredient cutting_board apron sandwich muffin
  pancake omelet fillet crust broth
verbs: bake roast chop slice stir whisk season simmer grill taste prepare serve boil fry knead peel
  marinate garnish cook blend toast braise store freeze
adjs: crispy tender savory sweet spicy fresh homemade golden creamy tangy juicy hearty smoky flaky
  rich bitter zesty crunchy warm delicious
[travel]
people: traveler tourist guide pilot backpacker hotel_manager flight_attendant local tour_operator
  travel_writer hiker passenger
nouns: hotel flight airport suitcase passport ticket beach island museum itinerary hostel train
  station map road_trip village coastline cruise ferry souvenir visa guidebook campsite mountain
  harbor market resort cathedral bridge trail border destination backpack
verbs: visit explore book pack cross discover photograph reach tour navigate recommend plan hike
  rent board cancel schedule reserve
adjs: scenic remote crowded charming coastal exotic affordable luxurious historic quiet sunny
  picturesque rugged bustling breathtaking tropical peaceful
[sports]
people: coach player referee athlete goalkeeper fan captain striker runner trainer rookie
  team_manager
nouns: team match season goal league stadium trophy ball race championship tournament game score
  jersey whistle training_session injury/injuries victory/victories defeat final penalty/penalties
  sprint marathon playoff bench lineup contract medal record club
verbs: win lose train score defend coach tackle kick pass sign beat lead celebrate challenge
  dominate
adjs: athletic competitive dramatic fierce undefeated talented aggressive decisive defensive young
  veteran tough thrilling narrow
[technology]
people: developer engineer designer user programmer startup_founder analyst administrator tester
  researcher product_manager
nouns: app laptop smartphone server database network browser update feature algorithm interface
  chip battery/batteries screen keyboard cloud_service password platform device framework bug
  release dashboard sensor router tablet plugin prototype backup website
verbs: install update debug deploy design test launch download configure encrypt upgrade develop
  build ship replace optimize integrate monitor restart
adjs: digital wireless secure fast reliable open-source portable smart intuitive buggy powerful
  lightweight experimental automated outdated
[gardening]
people: gardener farmer florist landscaper beekeeper neighbor botanist grower volunteer
nouns: garden seed rose tulip shovel hose greenhouse seedling shrub hedge lawn weed vegetable_bed
  orchard pumpkin cucumber fence root sunflower bulb trowel watering_can raised_bed vine fern
  daisy/daisies compost_heap
verbs: plant water prune harvest dig grow fertilize weed trim transplant mulch sow cultivate
  protect rake
adjs: leafy green fertile shady sunny dry muddy blooming fragrant seasonal organic hardy wild
  overgrown lush
[finance]
people: investor banker accountant trader economist borrower landlord broker tax_advisor saver
  retiree shareholder
nouns: budget loan mortgage account bank stock bond fund portfolio interest_rate salary bill
  invoice pension dividend expense credit_card savings_account market tax debt asset payment
  deposit receipt profit wallet
verbs: invest save borrow spend lend pay earn owe track manage withdraw deposit calculate reduce
  refinance
adjs: financial monthly annual risky profitable affordable expensive cheap stable volatile fixed
  variable long-term wealthy frugal
[health]
people: doctor nurse patient therapist dentist pharmacist surgeon nutritionist physician caregiver
  paramedic
nouns: clinic hospital symptom diet vitamin workout exercise appointment prescription medicine
  treatment headache vaccine checkup habit muscle heart blood_test recovery/recoveries routine
  stretch
verbs: treat prescribe examine diagnose recommend stretch monitor prevent reduce improve heal avoid
  measure
adjs: healthy chronic mild severe painful nutritious balanced active tired medical mental physical
  daily sore
[history]
people: historian king queen soldier emperor archaeologist monk merchant explorer general peasant
  scholar
nouns: empire war castle treaty battle century/centuries revolution dynasty/dynasties manuscript
  ruin kingdom colony/colonies monument archive artifact fortress throne army/armies republic
  chronicle temple legend invasion coin
verbs: conquer build rule defeat discover sign invade study record excavate defend found restore
  trace document
adjs: ancient medieval royal colonial imperial forgotten legendary bloody powerful early rural
  sacred
[music]
people: musician singer guitarist drummer pianist composer conductor band_member producer violinist
  songwriter
nouns: song album concert guitar piano drum melody/melodies chorus lyric festival orchestra stage
  record_label playlist tour rehearsal microphone violin symphony/symphonies ballad single verse
  amplifier note
verbs: play sing record compose perform write release tune rehearse stream mix produce hum strum
adjs: catchy loud acoustic melodic soulful upbeat classical electric haunting rhythmic famous
  underground
[science]
people: scientist researcher physicist chemist biologist astronomer student lab_technician
  professor geologist
nouns: experiment theory/theories laboratory/laboratories sample microscope telescope molecule cell
  planet star galaxy/galaxies fossil hypothesis/hypotheses measurement data_set particle gene
  protein equation reaction volcano/volcanoes comet climate_model orbit
verbs: measure observe test analyze discover publish predict calculate model simulate detect
  collect confirm replicate
adjs: scientific chemical biological cosmic microscopic precise experimental theoretical massive
  tiny surprising rare
[cars]
people: driver mechanic dealer racer commuter collector inspector
nouns: car engine tire brake truck sedan wheel gearbox highway garage fuel_tank bumper headlight
  motor hybrid van windshield oil_change license_plate convertible parking_lot
verbs: drive repair park wash inspect tow refuel service polish steer replace lease
adjs: electric used reliable fast noisy compact spacious vintage rusty fuel-efficient shiny sporty
[pets]
people: owner veterinarian trainer breeder pet_sitter groomer dog_walker
nouns: dog cat puppy/puppies kitten leash collar toy treat parrot hamster rabbit aquarium
  goldfish/goldfish shelter litter_box tail paw kennel harness mouse/mice
verbs: adopt feed walk groom train brush rescue vaccinate bathe spoil cuddle
adjs: playful loyal fluffy shy curious friendly energetic sleepy adorable stubborn gentle hungry
[movies]
people: director actor actress critic screenwriter viewer stunt_double film_editor
nouns: film movie scene sequel trailer script character studio premiere cinema soundtrack plot
  villain hero/heroes ending camera award box_office documentary remake episode
verbs: direct film watch review stream produce edit cast shoot adapt criticize
adjs: cinematic dramatic hilarious suspenseful animated independent popular boring stunning dark
  romantic
[education]
people: teacher student principal tutor parent librarian professor classmate graduate lecturer
nouns: school classroom lesson exam textbook semester course degree scholarship lecture essay
  library/libraries grade campus curriculum/curricula project notebook deadline quiz/quizzes
  diploma
verbs: teach learn study grade review write attend pass fail explain memorize present practice
adjs: academic difficult easy required optional final intensive online elementary advanced bright
[local_news]
people: mayor resident council_member police_officer firefighter reporter business_owner commuter
  official
nouns: city_council street park festival road election library/libraries bridge bus_route
  neighborhood school_board fire_station parade shop community_center construction_project
  playground sidewalk traffic_light ordinance
verbs: approve announce close open build repair fund organize host celebrate delay review inspect
adjs: local municipal busy annual controversial popular temporary public downtown
[home_improvement]
people: homeowner contractor plumber electrician carpenter tenant painter roofer interior_designer
  handyman/handymen
nouns: kitchen bathroom roof wall floor window door staircase cabinet tile drill hammer ladder
  faucet pipe renovation basement attic deck furnace shelf/shelves closet countertop
verbs: renovate paint repair install replace sand measure fix insulate remodel clean decorate build
  hang
adjs: cozy spacious modern rustic drafty leaky sturdy cheap bright wooden tiled
"""
NOUNS = """person/people friend family/families child/children neighbor week month year morning
evening weekend idea problem question answer reason story/stories change decision plan mistake
choice detail result example opportunity/opportunities challenge surprise tradition experience
goal community/communities town city/cities country/countries price event photo list article
video newsletter review survey"""
VERBS = """need find use prefer recommend enjoy love like want try consider share choose notice
describe compare check avoid support expect miss handle remember forget improve change discuss
mention explain suggest admire ignore finish organize"""
INTRANS = """arrive wait happen agree disappear matter succeed struggle work return continue
hesitate laugh complain relax travel grow improve change"""
ADJS = """good great small large big new old important simple difficult common popular
interesting surprising useful perfect strange familiar typical quiet busy expensive cheap modern
traditional careful honest clear obvious rare ordinary special serious early late modest generous
strong weak practical reasonable"""
ADVS = """often usually rarely always sometimes carefully quickly slowly finally recently actually
simply quietly gradually eventually proudly happily easily clearly really nearly already still"""
_IRREGULAR = """be:was:been have:had:had do:did:done go:went:gone make:made:made take:took:taken
see:saw:seen come:came:come know:knew:known get:got:gotten give:gave:given find:found:found
think:thought:thought tell:told:told leave:left:left feel:felt:felt bring:brought:brought
begin:began:begun keep:kept:kept hold:held:held write:wrote:written hear:heard:heard meet:met:met
run:ran:run pay:paid:paid lead:led:led grow:grew:grown lose:lost:lost send:sent:sent
build:built:built spend:spent:spent cut:cut:cut drive:drove:driven buy:bought:bought
choose:chose:chosen teach:taught:taught sell:sold:sold win:won:won feed:fed:fed sing:sang:sung
freeze:froze:frozen dig:dug:dug hang:hung:hung read:read:read put:put:put lend:lent:lent
withdraw:withdrew:withdrawn beat:beat:beaten shoot:shot:shot cast:cast:cast forget:forgot:forgotten
sow:sowed:sown understand:understood:understood"""
IRREGULAR = {w: (p, pp) for w, p, pp in (x.split(":") for x in _IRREGULAR.split())}
# Short stressed-final-syllable verbs that double their last consonant (stop -> stopped).
DOUBLE = frozenset(str.split("""stop plan chop stir ship drop trim plug grab skip shop dip hug pat
wrap spin run begin win dig cut put get let hit fit admit commit submit prefer refer occur control
patrol regret forget step nap log tag map clap drum strum chat hum set debug"""))
PREPS = ("in", "on", "at", "near", "with", "without", "after", "before", "during", "behind",
         "under", "around", "through", "for", "from", "across", "beside", "inside", "beyond")
TIMES = ("last week", "every morning", "in the spring", "at night", "on weekends", "this year",
         "for years", "twice a week", "before dawn", "after lunch", "during the holidays",
         "last summer", "in the end", "these days", "right away", "in the winter")
CONNECTORS = ("However,", "In fact,", "Meanwhile,", "As a result,", "Of course,",
              "For example,", "Still,", "Later,", "Finally,", "In other words,", "Even so,")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MODALS = ("can", "should", "might", "could", "must", "would")
# Substrings that keep offensive words out of the wordfreq-derived vocabulary.
_BLOCK = ("fuck", "shit", "cunt", "nigg", "bitch", "whore", "slut", "porn", "rapist", "sex",
          "nazi", "retard", "molest", "faggot", "penis", "vagina", "terroris", "suicid")
PL_DETS = ("the", "these", "some", "many", "several", "most", "our", "their", "a few", "two",
            "three", "", "", "")
SG_DETS = ("the", "the", "a", "a", "this", "that", "every", "our", "their", "my", "your", "one")
TENSES = ("pres", "pres", "past", "past", "perf", "fut", "modal", "prog", "neg")
PRONOUNS = (("we", 0), ("they", 0), ("I", 1), ("you", 0), ("she", 3), ("he", 3),
             ("many people", 0), ("most readers", 0))
_SMALL = {"a", "an", "the", "of", "in", "on", "to", "for", "and", "with", "at", "by", "or"}


def _parse_topics(text: str) -> dict[str, dict[str, str]]:
    topics: dict[str, dict[str, str]] = {}
    field = ""
    for line in text.strip().splitlines():
        if line.startswith("["):
            cur = topics.setdefault(line.strip("[]"), {})
        elif line.startswith(" "):
            cur[field] += " " + line.strip()
        else:
            field, _, words = line.partition(":")
            cur[field] = words.strip()
    return topics


TOPICS = _parse_topics(_TOPICS)


def verb_forms(base: str) -> tuple[str, str, str, str, str]:
    """(base, 3rd-singular, past, participle, gerund) by English spelling rules."""
    w = base
    if w.endswith(("s", "sh", "ch", "x", "z", "o")):
        s3 = w + "es"
    elif w.endswith("y") and w[-2] not in "aeiou":
        s3 = w[:-1] + "ies"
    else:
        s3 = {"have": "has", "be": "is"}.get(w, w + "s")
    if w in IRREGULAR:
        past, part = IRREGULAR[w]
    elif w in DOUBLE:
        past = part = w + w[-1] + "ed"
    elif w.endswith("e"):
        past = part = w + "d"
    elif w.endswith("y") and w[-2] not in "aeiou":
        past = part = w[:-1] + "ied"
    else:
        past = part = w + "ed"
    if w in DOUBLE:
        ing = w + w[-1] + "ing"
    elif w.endswith("ie"):
        ing = w[:-2] + "ying"
    elif w.endswith("e") and not w.endswith(("ee", "ye", "oe")) and w != "be":
        ing = w[:-1] + "ing"
    else:
        ing = w + "ing"
    return w, s3, past, part, ing


def noun_forms(text: str) -> list[tuple[str, str]]:
    """Parse ``word`` / ``word/plural`` entries into (singular, plural) pairs."""
    out = []
    for item in text.split():
        sg, _, pl = item.replace("_", " ").partition("/")
        if not pl:
            if sg.endswith(("s", "sh", "ch", "x", "z")):
                pl = sg + "es"
            elif sg.endswith("y") and sg[-2] not in "aeiou":
                pl = sg[:-1] + "ies"
            else:
                pl = sg + "s"
        out.append((sg, pl))
    return out


@cache
def article_for(word: str) -> str:
    w = word.lower()
    if w.startswith(("uni", "use", "usu", "eu", "one", "ur")):
        return "a"
    return "an" if w.startswith(("hour", "honest", "heir")) or w[:1] in "aeiou" else "a"


def title_case(text: str) -> str:
    return " ".join(w if (i and w in _SMALL) else w[:1].upper() + w[1:]
                    for i, w in enumerate(text.split()))


@lru_cache(maxsize=1)
def suffix_words() -> tuple[list[str], list[str], list[str]]:
    """Topic-neutral abstract nouns, adjectives and adverbs picked from wordfreq by suffix."""
    from wordfreq import top_n_list

    verbs = {w for t in TOPICS.values() for w in t["verbs"].split()} | set(VERBS.split())
    nouns, adjs, advs = [], [], []
    for w in top_n_list("en", 40000):
        if not (w.isalpha() and w.isascii() and len(w) >= 7) or w in verbs:
            continue
        if any(b in w for b in _BLOCK):
            continue
        if w.endswith(("ously", "fully", "ively", "ably", "ently", "antly")) or (
                w.endswith("ally") and len(w) >= 8):
            advs.append(w)
        elif w.endswith(("tion", "sion", "ness", "ity", "ship")) or (
                w.endswith(("ment", "ance", "ence")) and len(w) >= 8):
            nouns.append(w)
        elif w.endswith(("ous", "ful", "tive", "sive", "ible", "ical")) or (
                w.endswith(("able", "less")) and len(w) >= 8 and w != "nevertheless"):
            adjs.append(w)
    return nouns, adjs, advs
