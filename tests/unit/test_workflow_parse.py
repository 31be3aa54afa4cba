"""Loading workflow files into the typed model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow import grammar
from iguana_fsm.workflow.containers import workflow_from_containers
from iguana_fsm.workflow.model import Condition, Volume
from iguana_fsm.workflow.source import check_file
from iguana_fsm.workflow.validator import load_workflow, parse_volume, validate

# the prototype's workflow files (shared/reference/workflows), kept here so that CI has them
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "prototype-workflows"
REFERENCE_FILES = sorted(REFERENCE.glob("*.yaml"))
AGAMA = "registry.opensuse.org/yast/head/containers/containers_tumbleweed/opensuse/agama"

FULL = """\
# yaml-language-server: $schema=../iguana_fsm/data/workflow.schema.json
name: full
description: every key once
env:
  LEVEL: 3
  EMPTY:
  TOKEN: "abc"
public-env: [LEVEL]
jobs:
  prepare:
    env:
      DISK: /dev/vda
      LEVEL: job
    container:
      image: registry.example.com/tools/parted:1.0
      env:
        DISK: /dev/sda
      volumes:
        - scratch:/scratch
        - /srv/data:/data:rw
        - /cache:ro
    services:
      db:
        image: docker.io/library/postgres:16
        volumes: [/run/db]
    timeout-minutes: 1.5
  install:
    needs: prepare
    if: ${{ success() }}
    continue-on-error: yes
    container: {image: "localhost:5000/installer"}
  rescue:
    needs: [prepare, install]
    if: failure()
    container:
      image: busybox
"""


class TestReferenceWorkflows:
    """The prototype's workflow files, which users already have."""

    def test_there_are_reference_files(self) -> None:
        """The shared reference directory holds the three prototype workflows."""
        assert [path.name for path in REFERENCE_FILES] == [
            "agama.yaml",
            "d-installer.yaml",
            "partitioner.yaml",
        ]

    @pytest.mark.parametrize("path", REFERENCE_FILES, ids=lambda path: path.name)
    def test_reference_file_validates(self, path: Path) -> None:
        """Every prototype workflow validates without a single problem."""
        workflow, problems = check_file(path)
        assert problems == []
        assert workflow is not None and workflow.jobs

    def test_agama_model(self) -> None:
        """agama.yaml becomes one job with a named and two bind volumes and a service."""
        workflow = load_workflow((REFERENCE / "agama.yaml").read_text(), "agama.yaml")
        (job,) = workflow.jobs
        assert job.id == "agama" and job.line == 5
        assert job.container.image == f"{AGAMA}-service"
        assert job.container.volumes[0] == Volume("dbus_run", "/run/agama")
        assert job.container.volumes[0].is_named
        assert job.container.volumes[1].is_bind
        (service,) = job.services
        assert service.id == "backend"
        assert service.container.image == f"{AGAMA}-web"
        assert workflow.images() == (f"{AGAMA}-web", f"{AGAMA}-service")


class TestModel:
    """What each key of the language becomes in the model."""

    def test_full_workflow(self) -> None:
        """Every key of the language lands in its model field with the right type."""
        workflow = load_workflow(FULL, "full.yaml")
        assert (workflow.name, workflow.description) == ("full", "every key once")
        assert workflow.env == {"LEVEL": "3", "EMPTY": "", "TOKEN": "abc"}
        assert workflow.public_env == frozenset({"LEVEL"})
        prepare, install, rescue = workflow.jobs
        assert prepare.timeout_minutes == 1.5
        assert prepare.container.volumes == (
            Volume("scratch", "/scratch"),
            Volume("/srv/data", "/data"),
            Volume(None, "/cache", read_only=True),
        )
        assert install.needs == ("prepare",)
        assert install.condition is Condition.SUCCESS
        assert install.continue_on_error is True
        assert install.container.image == "localhost:5000/installer"
        assert rescue.needs == ("prepare", "install")
        assert rescue.condition is Condition.FAILURE
        assert rescue.timeout_minutes is None

    def test_job_env_is_folded_under_container_env(self) -> None:
        """Job env goes into its container and services; the container's own env wins."""
        prepare = load_workflow(FULL, "full.yaml").jobs[0]
        assert prepare.env == {"DISK": "/dev/vda", "LEVEL": "job"}
        assert prepare.container.env == {"DISK": "/dev/sda", "LEVEL": "job"}
        assert prepare.services[0].container.env == {"DISK": "/dev/vda", "LEVEL": "job"}

    def test_env_values_are_taken_as_written(self) -> None:
        """Numbers and booleans in env keep their spelling (1.10 stays 1.10, yes stays yes)."""
        text = "env: {V: 1.10, B: yes, O: 010, Q: '0x1'}\njobs:\n  a:\n    container: {image: x}\n"
        assert load_workflow(text, "w").env == {"V": "1.10", "B": "yes", "O": "010", "Q": "0x1"}

    def test_positions_are_kept(self) -> None:
        """The model records line and column of key paths for later messages."""
        workflow = load_workflow(FULL, "full.yaml")
        assert workflow.positions["jobs.install"] == (27, 3)
        assert workflow.positions["jobs.prepare.container.image"] == (15, 7)
        assert workflow.where("jobs.rescue.if") == "full.yaml:34:5"
        assert workflow.where("jobs.prepare.container.volumes[2]") == "full.yaml:21:11"
        assert workflow.where("jobs.rescue.needs[1]") == "full.yaml:33:22"
        assert workflow.where("public-env[0]") == "full.yaml:8:14"
        assert workflow.where("no.such.key") == "full.yaml"

    def test_file_order_is_kept(self) -> None:
        """Jobs keep file order, even when a later job is needed by an earlier one."""
        text = (
            "jobs:\n  z:\n    needs: a\n    container: {image: x}\n  a:\n    container: {image: y}"
        )
        assert [job.id for job in load_workflow(text, "w").jobs] == ["z", "a"]

    def test_conditions_with_and_without_expression_syntax(self) -> None:
        """if accepts each function bare or wrapped in ${{ }}, with free spacing."""
        for text, condition in [
            ("always()", Condition.ALWAYS),
            ("${{always()}}", Condition.ALWAYS),
            ("  ${{   failure()   }} ", Condition.FAILURE),
            ("success()", Condition.SUCCESS),
        ]:
            yaml_text = f"jobs:\n  a:\n    if: '{text}'\n    container: {{image: x}}\n"
            assert load_workflow(yaml_text, "w").jobs[0].condition is condition

    def test_bytes_with_bom(self) -> None:
        """A UTF-8 file with a byte order mark loads like the same text without it."""
        text = "jobs:\n  a:\n    container: {image: x}\n"
        assert load_workflow(b"\xef\xbb\xbf" + text.encode(), "w") == load_workflow(text, "w")

    def test_not_utf8(self) -> None:
        """Bytes that are not UTF-8 are one problem placed at the bad byte."""
        (problem,) = validate(b"jobs:\n  a: \xff\n", "w")
        assert str(problem) == "w:2:6: not UTF-8 text (byte 0xff)"

    def test_alias_is_resolved(self) -> None:
        """YAML anchors and aliases work for whole values, such as a shared env."""
        text = (
            "jobs:\n  a:\n    container:\n      image: x\n      env: &common {A: '1'}\n"
            "  b:\n    container:\n      image: y\n      env: *common\n"
        )
        first, second = load_workflow(text, "w").jobs
        assert first.container.env == second.container.env == {"A": "1"}

    def test_recursive_alias_does_not_hang(self) -> None:
        """A self-referencing alias is refused as YAML, never followed."""
        text = "jobs: &j\n  a:\n    container: {image: x}\n    env: {A: *j}\n"
        (problem,) = validate(text, "w")
        assert "recursive alias" in problem.message

    def test_deep_nesting(self) -> None:
        """Thousands of nested lists give a problem, never a RecursionError."""
        problems = validate("jobs: " + "[" * 50_000 + "]" * 50_000, "w")
        assert len(problems) == 1 and problems[0].line == 1


class TestVolumes:
    """The volume grammar on its own."""

    @pytest.mark.parametrize(
        ("text", "volume"),
        [
            ("/data", Volume(None, "/data")),
            ("/data:ro", Volume(None, "/data", True)),
            ("name:/data", Volume("name", "/data")),
            ("my.vol_1-x:/data:rw", Volume("my.vol_1-x", "/data")),
            ("/host/dir:/data:ro", Volume("/host/dir", "/data", True)),
        ],
    )
    def test_valid(self, text: str, volume: Volume) -> None:
        """Each accepted form gives its source, target and mode."""
        assert parse_volume(text) == volume

    @pytest.mark.parametrize(
        "text", ["", "data", "ro", ":/x", "/a:", "a:b:c:d", "/a:/b:z", "a b:/x", "/a:/b:/c"]
    )
    def test_invalid(self, text: str) -> None:
        """Malformed volumes give a reason instead of a Volume."""
        assert isinstance(parse_volume(text), str)


class TestKernelContainers:
    """rd.iguana.containers=a,b stands for a workflow with jobs a and b."""

    def test_same_model_as_a_file(self) -> None:
        """The derived workflow equals the one a file with the same two jobs gives."""
        images = [
            "registry.example.com/tools/prepare:1",
            "docker.io/library/busybox@sha256:" + "a" * 64,
        ]
        text = (
            "jobs:\n"
            f"  prepare:\n    container:\n      image: {images[0]}\n"
            f"  busybox:\n    container:\n      image: {images[1]}\n"
        )
        assert workflow_from_containers(images) == load_workflow(text, "file.yaml")

    def test_ids_are_unique_and_valid(self) -> None:
        """Repeated names get -2, -3; names that cannot start a job id get a prefix."""
        workflow = workflow_from_containers(["a/tool", "b/tool:2", "c/tool", "0day", "x.y"])
        assert [job.id for job in workflow.jobs] == ["tool", "tool-2", "tool-3", "job-0day", "x-y"]

    def test_invalid_images_are_all_reported(self) -> None:
        """Every bad image is a problem naming its position in the list."""
        with pytest.raises(WorkflowInvalid) as caught:
            workflow_from_containers(["ok", "Bad", "x@sha256:1"])
        assert [str(problem) for problem in caught.value.problems] == [
            "rd.iguana.containers: containers[1]: invalid image 'Bad': "
            "repository path must be lowercase, not 'Bad'",
            "rd.iguana.containers: containers[2]: invalid image 'x@sha256:1': "
            "sha256 digest must have 64 hex digits, not 1",
        ]

    def test_empty_list(self) -> None:
        """No images at all is an invalid workflow, not an empty one."""
        with pytest.raises(WorkflowInvalid, match="no container images"):
            workflow_from_containers([])


def test_full_example_uses_every_key_of_the_grammar() -> None:
    """FULL above holds every key of the language, so the model tests cover each one."""
    document = yaml.safe_load(FULL)
    jobs = document["jobs"].values()
    used = set(document) | {key for job in jobs for key in job}
    used |= {key for job in jobs for key in job["container"]}
    every = {
        key.name for key in (*grammar.WORKFLOW_KEYS, *grammar.JOB_KEYS, *grammar.CONTAINER_KEYS)
    }
    assert used == every
