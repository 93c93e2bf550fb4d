"""Defining steps and pipelines: the DAG from calls, and the errors for bad definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kiln.context import Context
from kiln.db.tables import PipelineRunRow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.pipelines import Output, Resources, get_runner, known_runners, pipeline, step
from kiln.pipelines._graph import Graph, Node, building
from tests.pipelines import _steps


def test_a_step_called_outside_a_pipeline_is_refused() -> None:
    with pytest.raises(Conflict, match=r"step 'square' was called outside a pipeline.*square\.fn"):
        _steps.square(3)
    with pytest.raises(Conflict, match="outside a pipeline"):
        _steps.square.map([1, 2])
    assert _steps.square.fn(3) == 9


def test_calls_build_the_graph() -> None:
    graph, params = _steps.fan.build({"n": 2, "use_map": True})

    assert params == {"n": 2, "use_map": True}
    nodes = graph.order()
    assert [node.invocation for node in nodes] == ["square[0]", "square[1]", "describe", "add_all"]
    add_all = graph.nodes["add_all"]
    assert add_all.inputs == {"values": ["square[0]", "square[1]"]}
    assert graph.nodes["describe"].inputs == {"values": {"first": "square[0]", "last": "square[1]"}}
    assert graph.nodes["square[1]"].params == {"n": 1}


def test_an_output_has_no_value_while_defining() -> None:
    graph = Graph("p")
    with building(graph):
        output = _steps.square(2)
    assert isinstance(output, Output)
    assert "square" in repr(output)
    for use in (bool, len, iter, lambda o: o[0], lambda o: o.columns):
        with pytest.raises(Conflict, match="has no value while the pipeline is being defined"):
            use(output)


def test_outputs_cannot_cross_pipeline_runs() -> None:
    first = Graph("first")
    with building(first):
        output = _steps.square(2)
    with building(Graph("second")), pytest.raises(Conflict, match="another pipeline run"):
        _steps.add_all([output])


def test_a_cycle_is_refused() -> None:
    graph = Graph("looped")
    for name, upstream in (("a", ("b",)), ("b", ("a",)), ("c", ())):
        graph.nodes[name] = Node(name, len(graph.nodes), _steps.square, ("n",), {}, {}, upstream)

    with pytest.raises(InvalidInput, match="cycle among the steps a, b"):
        graph.order()
    graph.nodes["a"].upstream = ("ghost",)
    with pytest.raises(InvalidInput, match="depends on ghost"):
        graph.order()


def test_bad_arguments_are_refused() -> None:
    graph = Graph("p")
    with building(graph):
        one = _steps.square(1)
        with pytest.raises(InvalidInput, match="mixes step outputs and plain values"):
            _steps.add_all([one, 2])
        with pytest.raises(InvalidInput, match="mixes step outputs and plain values in a dict"):
            _steps.describe({"a": one, "b": 2})
        with pytest.raises(
            InvalidInput, match=r"parameter 'n' of step 'square' is a builtins\.object"
        ):
            _steps.square(object())
        with pytest.raises(InvalidInput, match="inside a structure"):
            _steps.add_all([[one]])
        with pytest.raises(InvalidInput, match="bad arguments: missing a required argument"):
            _steps.square()
        with pytest.raises(InvalidInput, match="not the output of step 'square'"):
            _steps.square.map(one)
        with pytest.raises(InvalidInput, match="takes a list"):
            _steps.square.map({1, 2})  # type: ignore[arg-type]


def test_step_options_are_checked() -> None:
    def fn() -> int:
        return 1

    assert step(fn).options() == {
        "cache": True,
        "retries": 0,
        "backoff": 1.0,
        "timeout": None,
        "resources": {"cpu": 1.0, "gpu": 0.0, "memory": None},
    }
    assert step(resources={"memory": "1.5GiB", "gpu": 1})(fn).resources == Resources(
        cpu=1.0, gpu=1, memory=int(1.5 * (1 << 30))
    )
    for options, message in (
        ({"retries": -1}, "retries"),
        ({"timeout": 0}, "timeout"),
        ({"backoff": "soon"}, "backoff"),
        ({"cache": "yes"}, "cache"),
        ({"name": "has space"}, "step name"),
        ({"resources": {"cpus": 2}}, "unknown resources 'cpus'"),
        ({"resources": {"memory": "lots"}}, "not a size"),
        ({"resources": {"cpu": -1}}, "zero or more"),
    ):
        with pytest.raises(InvalidInput, match=message):
            step(**options)(fn)


def test_pipeline_params_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"unknown keys in params: beta, gamma; .* rows, scale"):
        _steps.linear.build({"rows": 1, "beta": 2, "gamma": 3})
    with pytest.raises(InvalidInput, match="needs a value for kind"):
        _steps.round_trip.build()
    with pytest.raises(InvalidInput, match="parameter 'rows' of pipeline 'linear' is a"):
        _steps.linear.build({"rows": object()})
    with pytest.raises(NotFound, match="does not exist"):
        _steps.linear.build(config=tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    for text, message in (("- 1\n- 2\n", "must be a mapping"), ("a: [\n", "not valid YAML")):
        bad.write_text(text)
        with pytest.raises(InvalidInput, match=message):
            _steps.linear.build(config=bad)
    bad.write_text("")
    assert _steps.linear.build(config=bad)[1] == {"rows": 5, "scale": 1.0}


def test_a_pipeline_must_call_a_step_and_cannot_run_inside_another() -> None:
    @pipeline
    def empty() -> None:
        return None

    with pytest.raises(InvalidInput, match="called no step"):
        empty.build()

    @pipeline(name="outer")
    def outer() -> Any:
        _steps.linear.build()

    with pytest.raises(Conflict, match="while another pipeline was being defined"):
        outer.build()


def test_runners_are_found_by_name(sqlite_context: Context) -> None:
    assert known_runners()[:2] == ["sequential", "parallel"]
    assert get_runner("sequential").name == "sequential"
    with pytest.raises(
        InvalidInput, match="unknown runner 'teleport'; known runners: sequential, parallel, ray"
    ):
        _steps.linear.run(runner="teleport", context=sqlite_context)
    with pytest.raises(InvalidInput, match="runner must be"):
        _steps.linear.run(runner=3, context=sqlite_context)  # type: ignore[arg-type]
    # Refused before anything was recorded.
    assert sqlite_context.db.read(lambda s: s.scalar(select(func.count(PipelineRunRow.id)))) == 0
