"""The prompt template: the documented layout, which tokens are targets, and a prompt
rendered alone encoding to the ids the model was trained on."""

from __future__ import annotations

import pytest

from training.finetune.template import TEMPLATES, encode, pieces, render_prompt, template

PLAIN = TEMPLATES["plain"]


def decoded(tok, ids) -> str:
    return tok.decode([int(i) for i in ids], skip_special_tokens=False)


def test_a_pair_is_laid_out_as_documented_with_the_answer_and_eos_as_targets(tok):
    enc = encode(tok, [("user", "What does anna like?"), ("assistant", "Anna likes tea.")],
                 PLAIN, eos_id=0)
    assert decoded(tok, enc.ids) == ("### Prompt:\nWhat does anna like?\n\n### Response:\n"
                                     "Anna likes tea.<|endoftext|>")
    assert decoded(tok, enc.ids[enc.mask]) == "Anna likes tea.<|endoftext|>"
    assert not enc.mask[:enc.answer_start].any() and enc.mask[enc.answer_start:].all()
    assert enc.ids[-1] == 0 and list(enc.ids).count(0) == 1


def test_a_rendered_prompt_encodes_to_the_trained_prompt_ids(tok):
    enc = encode(tok, [("user", "What does hugo like?"), ("assistant", "Hugo likes jam.")],
                 PLAIN, eos_id=0)
    prompt = tok.encode(render_prompt("What does hugo like?"), add_special_tokens=False).ids
    assert prompt == enc.ids[:enc.answer_start].tolist()


def test_chat_turns_each_answer_ends_in_eos_and_only_answers_are_targets(tok):
    turns = [("system", "Be brief."), ("user", "What does anna like?"),
             ("assistant", "Anna likes tea."), ("user", "And bruno?"),
             ("assistant", "Bruno likes figs."), ("user", "Thanks")]
    enc = encode(tok, turns, PLAIN, eos_id=0)
    text = decoded(tok, enc.ids)
    assert text == ("### System:\nBe brief.\n\n### Prompt:\nWhat does anna like?\n\n"
                    "### Response:\nAnna likes tea.<|endoftext|>### Prompt:\nAnd bruno?\n\n"
                    "### Response:\nBruno likes figs.<|endoftext|>")  # the last user turn: dropped
    assert decoded(tok, enc.ids[enc.mask]) == "Anna likes tea.<|endoftext|>Bruno likes figs." \
                                              "<|endoftext|>"
    assert decoded(tok, enc.ids[enc.answer_start:]) == "Bruno likes figs.<|endoftext|>"


def test_an_eos_string_in_text_is_text_not_the_eos_id(tok):
    enc = encode(tok, [("user", "say <|endoftext|>"), ("assistant", "no")], PLAIN, eos_id=0)
    assert list(enc.ids).count(0) == 1  # only the one closing the answer


def test_context_runs_are_merged_into_one_piece():
    got = pieces([("system", "S"), ("user", "U"), ("assistant", "A")], PLAIN)
    assert got == [("### System:\nS\n\n### Prompt:\nU\n\n### Response:\n", False), ("A", True),
                   (None, True)]


def test_an_unknown_template_names_the_key():
    with pytest.raises(ValueError, match=r"^finetune.template: 'alpaca' is not a template"):
        template("alpaca")
