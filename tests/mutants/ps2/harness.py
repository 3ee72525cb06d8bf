"""ps2_shapes for the shared in-process notebook harness (tests/mutants/harness.py), and
how its mutants are packed into few notebooks for the grading engine.

Imported as ``ps2.harness`` with tests/mutants on ``sys.path``.
"""
from __future__ import annotations

from pathlib import Path

from harness import Assignment

NAME = "ps2_shapes"
FUNCTIONS = ["conv_output_size", "layer_output_shape", "layer_param_count", "summarize",
             "practice_layers", "mnist_cnn_layers", "bn_cnn_layers", "lenet5_layers", "vgg16_layers",
             "answer_c1_padding_224", "answer_c1_same_pads", "answer_vgg16_fc1", "answer_stack_params",
             "answer_mnist_pool_first", "alexnet_layers"]
H = Assignment(NAME, FUNCTIONS, Path(__file__).with_name("mutants.py"), skip_demos=False)
# predict-before-run questions: solution cells binding a plain value, graded by one hidden test each
ANSWERS = H.ANSWERS


# ------------------------------------------------------------- packing mutants for the engine
# which graded functions a test cell calls (directly or through the student's own code:
# summarize calls layer_output_shape and layer_param_count, layer_output_shape calls
# conv_output_size); hidden tests of the networks call only the network function and `ref`
_CALLS = {
    "conv_output_size": {"conv_output_size"},
    "layer_output_shape": {"layer_output_shape", "conv_output_size"},
    "layer_param_count": {"layer_param_count"},
    "summarize": {"summarize", "layer_output_shape", "layer_param_count", "conv_output_size"},
}


def calls(grade_id: str, hidden: bool) -> set:
    """The graded functions test ``grade_id`` depends on."""
    f = H.function_of(grade_id)
    if f in _CALLS:
        return _CALLS[f]
    if hidden or f in ANSWERS:
        return {f}
    return {f} | _CALLS["summarize"]


def pack(mutants: dict, caught_by: dict, hidden: dict) -> list[list[str]]:
    """Group wrong mutants into few notebooks, each mutant still caught by a test that no
    other mutant of its notebook can affect.

    caught_by: {mutant: grade_ids of its own function's tests it fails when alone};
    hidden: {grade_id: is hidden}. Returns lists of mutant names (distinct targets each).
    """
    groups: list[list[str]] = []

    def clean(name, targets):
        return any(calls(t, hidden[t]) & targets == {mutants[name][0]} for t in caught_by[name])

    for name in mutants:
        for group in groups:
            targets = {mutants[m][0] for m in group} | {mutants[name][0]}
            if len(targets) == len(group) + 1 and all(clean(m, targets) for m in [*group, name]):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups
