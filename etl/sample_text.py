"""English page text for the sample crawl: a topic lexicon and a generative grammar.

This module owns the *words* of the synthetic crawl. :class:`English` expands sentence
templates (simple, relative, compound and subordinate clauses, questions, quotes, numbers,
dates, imperatives) over a part-of-speech lexicon with tense and number agreement: 16 topic
lexicons, general words, abstract nouns / adjectives / adverbs picked from ``wordfreq`` by
suffix, and Faker name, company, city and job pools. A small language model trained on it
sees real syntax rather than word salad. Every choice comes from the ``random.Random``
passed in, so one seed always gives the same text.

Example::

    >>> import random
    >>> from etl.sample_text import English
    >>> gen = English(seed=7)
    >>> title, paragraphs = gen.article(random.Random(1), "gardening")
    >>> len(paragraphs) >= 3 and paragraphs[0].endswith((".", "?"))
    True
"""

from __future__ import annotations

import random
from bisect import bisect
from functools import cache, lru_cache
from itertools import accumulate

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
_PL_DETS = ("the", "these", "some", "many", "several", "most", "our", "their", "a few", "two",
            "three", "", "", "")
_SG_DETS = ("the", "the", "a", "a", "this", "that", "every", "our", "their", "my", "your", "one")
_TENSES = ("pres", "pres", "past", "past", "perf", "fut", "modal", "prog", "neg")
_PRONOUNS = (("we", 0), ("they", 0), ("I", 1), ("you", 0), ("she", 3), ("he", 3),
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
def _suffix_words() -> tuple[list[str], list[str], list[str]]:
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


class Topic:
    """One topic lexicon with nouns and verbs already inflected."""

    def __init__(self, name: str, spec: dict[str, str]):
        self.name = name.replace("_", " ")
        self.people = noun_forms(spec["people"])
        self.nouns = noun_forms(spec["nouns"])
        self.verbs = [verb_forms(v) for v in spec["verbs"].split()]
        self.adjs = spec["adjs"].split()


class Names:
    """Faker pools, seeded once per run: a Faker call costs ~70 us, too slow per sentence."""

    def __init__(self, seed: int):
        from faker import Faker
        from faker.providers.person.en_US import Provider as Person

        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.first = list(Person.first_names)
        self.last = list(Person.last_names)
        self.companies = [fake.company() for _ in range(700)]
        self.cities = [fake.city() for _ in range(500)]
        self.jobs = [j.lower() for j in (fake.job() for _ in range(400))
                     if j.replace(" ", "").isalpha()]

    def person(self, rng: random.Random) -> str:
        rnd = rng.random
        first, last = self.first, self.last
        return f"{first[int(rnd() * len(first))]} {last[int(rnd() * len(last))]}"


class English:
    """The grammar. ``article`` gives (title, paragraphs); ``sentence`` one sentence."""

    def __init__(self, seed: int = 0):
        self.names = Names(seed)
        self.topics = {k: Topic(k, v) for k, v in TOPICS.items()}
        self.nouns = noun_forms(NOUNS)
        self.verbs = [verb_forms(v) for v in VERBS.split()]
        self.intrans = [verb_forms(v) for v in INTRANS.split()]
        self.x_nouns, x_adjs, self.x_advs = _suffix_words()
        self.adjs = ADJS.split() + x_adjs
        self.advs = ADVS.split()
        templates = [
            (self.s_simple, 5), (self.s_relative, 2), (self.s_compound, 3), (self.s_subord, 3),
            (self.s_question, 1), (self.s_quote, 1), (self.s_number, 2), (self.s_predicate, 2),
            (self.s_imperative, 1), (self.s_there, 1), (self.s_abstract, 2), (self.s_date, 1),
        ]
        self.templates = [fn for fn, _ in templates]
        self._tw = list(accumulate(w for _, w in templates))
        self.r = random.Random(0)
        self.t = self.topics["cooking"]

    def use(self, rng: random.Random, topic: str) -> None:
        self.r, self.t = rng, self.topics[topic]

    def pick(self, seq):
        # Indexing by random() is ~2x faster than Random.choice, the most frequent call here.
        return seq[int(self.r.random() * len(seq))]

    def num(self, lo: int, hi: int) -> int:
        """Like ``randint`` (inclusive), ~4x faster."""
        return lo + int(self.r.random() * (hi - lo + 1))

    # -- phrases (hot path: local ``rnd`` and list indexing instead of Random.choice) -----
    def adj(self) -> str:
        rnd = self.r.random
        seq = self.t.adjs if rnd() < 0.45 else self.adjs
        return seq[int(rnd() * len(seq))]

    def noun(self, person: bool = False) -> tuple[str, str]:
        rnd = self.r.random
        seq = self.t.people if person else self.t.nouns if rnd() < 0.7 else self.nouns
        return seq[int(rnd() * len(seq))]

    def np(self, person: bool = False) -> tuple[str, int]:
        """A noun phrase and its agreement: 3 = third singular, 1 = "I", 0 = plural."""
        rnd, t = self.r.random, self.t  # noun() and adj() inlined: this is the hottest call
        if person:
            if rnd() < 0.18:
                return self.names.person(self.r), 3
            seq = t.people
        else:
            seq = t.nouns if rnd() < 0.7 else self.nouns
        sg, pl = seq[int(rnd() * len(seq))]
        x = rnd()
        word = pl if x < 0.4 else sg
        if rnd() < 0.45:
            adjs = t.adjs if rnd() < 0.45 else self.adjs
            word = f"{adjs[int(rnd() * len(adjs))]} {word}"
        if x < 0.4:
            det = _PL_DETS[int(rnd() * len(_PL_DETS))]
            return (f"{det} {word}" if det else word), 0
        det = _SG_DETS[int(rnd() * len(_SG_DETS))]
        return f"{article_for(word) if det == 'a' else det} {word}", 3

    def subject(self) -> tuple[str, int]:
        x = self.r.random()
        if x < 0.15:
            return _PRONOUNS[int(x * 53.3)]  # x < 0.15 maps onto the 8 pronouns
        return self.np(person=x < 0.6)

    def pp(self) -> str:
        rnd = self.r.random
        if rnd() < 0.4:
            return TIMES[int(rnd() * len(TIMES))]
        return f"{PREPS[int(rnd() * len(PREPS))]} {self.np()[0]}"

    def verb(self, forms: tuple[str, ...], agr: int, tense: str | None = None) -> str:
        rnd = self.r.random
        tense = tense or _TENSES[int(rnd() * len(_TENSES))]
        base, s3, past, part, ing = forms
        if tense == "pres":
            return s3 if agr == 3 else base
        if tense == "past":
            return past
        if tense == "perf":
            return ("has " if agr == 3 else "have ") + part
        if tense == "fut":
            return "will " + base
        if tense == "modal":
            return MODALS[int(rnd() * len(MODALS))] + " " + base
        if tense == "prog":
            return ("is " if agr == 3 else "am " if agr == 1 else "are ") + ing
        if rnd() < 0.5:
            return "did not " + base
        return ("does not " if agr == 3 else "do not ") + base

    def vp(self, agr: int, tense: str | None = None) -> str:
        rnd = self.r.random
        if rnd() < 0.2:
            forms = self.intrans[int(rnd() * len(self.intrans))]
            return f"{self.verb(forms, agr, tense)} {self.pp()}"
        seq = self.t.verbs if rnd() < 0.65 else self.verbs
        out = f"{self.verb(seq[int(rnd() * len(seq))], agr, tense)} {self.np()[0]}"
        return f"{out} {self.pp()}" if rnd() < 0.45 else out

    def clause(self, tense: str | None = None) -> str:
        subj, agr = self.subject()
        if self.r.random() < 0.15:
            return f"{subj} {self.pick(self.advs)} {self.vp(agr, 'past')}"
        return f"{subj} {self.vp(agr, tense)}"

    # -- sentence templates (no final punctuation unless a question) ---------------------
    def s_simple(self) -> str:
        return self.clause()

    def s_relative(self) -> str:
        subj, agr = self.np(person=True)
        if subj[0].isupper():
            return f"{subj}, who {self.vp(agr, 'past')}, {self.vp(agr, 'pres')}"
        rel = "who" if self.r.random() < 0.7 else "that"
        return f"{subj} {rel} {self.vp(agr, 'past')} {self.vp(agr, 'pres')}"

    def s_compound(self) -> str:
        conj = self.pick(("and", "but", "so", "yet", "while"))
        return f"{self.clause()}, {conj} {self.clause()}"

    def s_subord(self) -> str:
        sub = self.pick(("Because", "Although", "When", "While", "After", "Before", "If",
                             "Once", "Since", "Unless"))
        return f"{sub} {self.clause()}, {self.clause()}"

    def s_question(self) -> str:
        subj, agr = self.np(person=True)
        sg, pl = self.noun()
        base, _, _, part, ing = self.pick(self.t.verbs)
        k = self.num(0, 4)
        if k == 0:
            aux = "does" if agr == 3 else "do"
            return f"{self.pick(('Why', 'How', 'When'))} {aux} {subj} {base} the {pl}?"
        if k == 1:
            return f"Have you ever {part} {article_for(sg)} {sg} {self.pp()}?"
        if k == 2:
            return f"What makes the {sg} so {self.adj()}?"
        if k == 3:
            return f"Is the {sg} really worth the {self.pick(('price', 'effort', 'wait', 'hype'))}?"
        return f"How {self.pick(MODALS)} {subj} {base} {self.np()[0]} without {ing} it?"

    def s_quote(self) -> str:
        r = self.r
        name, job = self.names.person(r), self.pick(self.names.jobs)
        who = f"{article_for(job)} {job} at {self.pick(self.names.companies)}"
        c = self.clause()
        if r.random() < 0.5:
            said = self.pick(("said", "explained", "added", "noted", "admitted"))
            return f'"{c[0].upper()}{c[1:]}," {said} {name}, {who}'
        return f"According to {name}, {who}, {c}"

    def s_number(self) -> str:
        # Years, prices, versions and counts: look-alikes a PII redactor must leave alone.
        sg, pl = self.noun()
        k = self.num(0, 5)
        if k == 0:
            return f"About {self.num(5, 95)} percent of {pl} {self.vp(0, 'pres')}"
        if k == 1:
            price = f"${self.num(2, 400)}.{self.pick(('99', '95', '49', '00', '50'))}"
            return f"The {sg} costs {price} at {self.pick(self.names.companies)}"
        if k == 2:
            return f"In {self.num(1950, 2024)}, {self.clause('past')}"
        if k == 3:
            n, city = f"{self.num(1, 40)},{self.num(0, 999):03d}", self.pick(self.names.cities)
            return f"More than {n} people visited {city} in {self.num(1990, 2024)}"
        if k == 4:
            ver = f"{self.num(1, 9)}.{self.num(0, 20)}.{self.num(0, 9)}"
            app = self.pick(self.names.companies)
            return f"Version {ver} of the {app} app {self.vp(3, 'pres')}"
        qty = self.pick(("grams", "minutes", "hours", "miles", "kilometers", "pounds", "days"))
        return f"It takes about {self.num(2, 250)} {qty} to {self.pick(self.t.verbs)[0]} the {sg}"

    def s_predicate(self) -> str:
        subj, agr = self.np()
        r = self.r
        be = ("is" if agr == 3 else "are") if r.random() < 0.5 else ("was" if agr == 3 else "were")
        more = self.pick(("and", "but rarely", "and surprisingly", "yet", "and always"))
        return f"{subj} {be} {self.adj()} {more} {self.adj()}"

    def s_imperative(self) -> str:
        lead = self.pick(("Try to", "Remember to", "Never", "Always", "Do not forget to",
                         "Be sure to"))
        v1, v2 = self.pick(self.t.verbs)[0], self.pick(self.t.verbs)[0]
        return f"{lead} {v1} {self.np()[0]} before you {v2} {self.np()[0]}"

    def s_there(self) -> str:
        sg, pl = self.noun()
        if self.r.random() < 0.5:
            return f"There are {self.num(2, 60)} {self.adj()} {pl} {self.pp()}"
        verb = self.pick(self.t.verbs)[0]
        return f"There is no {self.adj()} way to {verb} {article_for(sg)} {sg}"

    def s_abstract(self) -> str:
        a = self.pick(self.x_nouns)
        k = self.num(0, 2)
        if k == 0:
            return f"The {a} of {self.np()[0]} {self.pick(('is', 'was', 'seems'))} {self.adj()}"
        if k == 1:
            subj, agr = self.subject()
            return f"{subj} {self.verb(self.pick(self.verbs), agr)} the {a} of {self.np()[0]}"
        return f"{self.clause('past')} with {self.pick(self.x_advs)} {self.adj()} {a}"

    def s_date(self) -> str:
        r = self.r
        if r.random() < 0.5:
            when = f"On {self.pick(MONTHS)} {self.num(1, 28)}, {self.num(2001, 2024)}"
        else:
            when = f"Last {self.pick(DAYS)} in {self.pick(self.names.cities)}"
        return f"{when}, {self.clause('past')}"

    # -- pages ---------------------------------------------------------------------------
    def sentence(self) -> str:
        r = self.r
        s = self.templates[bisect(self._tw, r.random() * self._tw[-1])]()
        if s[0].islower() and r.random() < 0.1:
            s = f"{self.pick(CONNECTORS)} {s}"
        return s if s[-1] == "?" else f"{s[0].upper()}{s[1:]}."

    def title(self) -> str:
        r = self.r
        sg, pl = self.noun()
        k = self.num(0, 4)
        if k == 0:
            t = f"how to {self.pick(self.t.verbs)[0]} the {self.adj()} {sg}"
        elif k == 1:
            t = f"{self.num(3, 15)} {self.adj()} {pl} for {self.t.name} fans"
        elif k == 2:
            t = f"why {pl} matter more than you think"
        elif k == 3:
            t = f"{self.names.person(r)} on {self.adj()} {pl}"
        else:
            t = f"the {self.adj()} guide to {self.t.name}"
        return title_case(t)

    def article(self, rng: random.Random, topic: str) -> tuple[str, list[str]]:
        """A normal page: 3-12 paragraphs of 2-7 sentences; one in ten is a long read."""
        self.use(rng, topic)
        sent = self.sentence
        if rng.random() < 0.1:
            paras = [" ".join([sent() for _ in range(self.num(4, 8))])
                     for _ in range(self.num(8, 14))]
        else:
            paras = [" ".join([sent() for _ in range(self.num(2, 7))])
                     for _ in range(self.num(3, 12))]
        return self.title(), paras


@lru_cache(maxsize=4)
def english(seed: int) -> English:
    """A shared grammar per seed: building the Faker pools and word lists takes ~0.5 s."""
    return English(seed)
