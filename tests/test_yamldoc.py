"""Safe YAML loading with positions: tags, duplicates, aliases, parse errors, locate()."""

from __future__ import annotations

from gitops_edge.repository.yamldoc import MAX_NODES, load_documents


def test_plain_data_and_positions() -> None:
    docs, diags = load_documents("a.yaml", "a: 1\nb:\n  c: [x, {d: e}]\n")
    assert diags == []
    assert docs[0].data == {"a": 1, "b": {"c": ["x", {"d": "e"}]}}
    assert docs[0].locate(["b", "c", 1, "d"]) == (3, 14)
    assert docs[0].locate(["b"], key=True) == (2, 1)
    assert docs[0].locate(["b", "missing", "x"]) == (3, 3)  # deepest existing ancestor


def test_multi_document_indices_skip_empty() -> None:
    docs, diags = load_documents("m.yaml", "---\na: 1\n---\n---\nb: 2\n")
    assert diags == []
    assert [(d.index, d.data) for d in docs] == [(0, {"a": 1}), (2, {"b": 2})]


def test_python_tag_rejected_and_never_constructed() -> None:
    docs, diags = load_documents("t.yaml", "a: !!python/object/apply:os.system ['true']\n")
    assert docs == []
    assert len(diags) == 1
    assert (diags[0].line, diags[0].col) == (1, 4)
    assert "not allowed" in diags[0].message


def test_custom_tag_rejected_other_documents_kept() -> None:
    docs, diags = load_documents("t.yaml", "a: !secret x\n---\nb: 1\n")
    assert [d.data for d in docs] == [{"b": 1}]
    assert diags[0].message == "YAML tag !secret is not allowed"


def test_duplicate_key_reported_at_second_key() -> None:
    _, diags = load_documents("d.yaml", "a: 1\nb: 2\na: 3\n")
    assert [(d.line, d.message) for d in diags] == [(3, "duplicate key 'a'")]


def test_parse_error_has_position() -> None:
    docs, diags = load_documents("b.yaml", "a: [\n")
    assert docs == []
    assert diags[0].rule == "yaml" and diags[0].line == 2
    assert diags[0].message.startswith("cannot parse YAML")


def test_aliases_and_merge_keys() -> None:
    docs, diags = load_documents("m.yaml", "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert diags == []
    assert docs[0].data["use"] == {"x": 1, "y": 3}


def test_recursive_alias_rejected() -> None:
    _, diags = load_documents("r.yaml", "a: &x [*x]\n")
    assert diags[0].message == "recursive alias"


def test_alias_bomb_rejected() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    _, diags = load_documents("bomb.yaml", "\n".join(lines) + "\n")
    assert diags and f"more than {MAX_NODES}" in diags[0].message


def test_scalars_follow_yaml_core_schema() -> None:
    docs, _ = load_documents("s.yaml", "i: 0x10\nf: 1.5\nb: true\nn: ~\np: 30%\nt: 2024-01-23\n")
    assert docs[0].data == {"i": 16, "f": 1.5, "b": True, "n": None, "p": "30%", "t": "2024-01-23"}


def test_flow_sequence_with_colon_in_plain_scalar_is_valid_yaml_1_2() -> None:
    # libyaml (the fast path) refuses this; the pure parser must take over and accept it.
    docs, diags = load_documents("a.yaml", "images: [docker.io/library/nginx:1.25]\nn: 1\n")
    assert diags == []
    assert docs[0].data == {"images": ["docker.io/library/nginx:1.25"], "n": 1}
    assert docs[0].locate(["n"])[0] == 2


def test_fast_and_pure_parsers_read_the_same_data() -> None:
    from gitops_edge.repository import yamlparse

    text = (
        "a: yes\nb: on\nc: 0o17\nd: 017\ne: 1_000\nf: .inf\ng: ~\nh: 2001-12-14\n"
        "i: 0x1f\nj: 1e3\nk: '30%'\nl: [1, two, {m: n}]\nn: !!str 5\n"
    )
    fast = [n for n in yamlparse._fast_yaml.compose_all(text)]
    pure = [n for n in yamlparse._yaml.compose_all(text)]
    tags = lambda nodes: [(k.value, v.tag) for k, v in nodes[0].value]  # noqa: E731
    assert tags(fast) == tags(pure)
