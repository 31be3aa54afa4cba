"""The container contract (README: every container is privileged, on the host network, with
/dev, the host's /iguana and IGUANA=true) and its translation into a libpod body, which adds
nothing the spec does not say."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.contract import container_spec, iguana_dir_of
from iguana_fsm.engine.base import RUN_LABEL, ContainerSpec
from iguana_fsm.engine.libpod import container_body
from iguana_fsm.workflow.model import Volume


def _spec(tmp_path: Path) -> ContainerSpec:
    return container_spec(
        "iguana-1-job",
        "reg.example/x@sha256:" + "a" * 64,
        {"IGUANA": "false", "A": "1"},
        (Volume("data", "/data"), Volume(None, "/scratch"), Volume("/srv", "/srv", True)),
        iguana_dir=tmp_path,
        run_id="run-1",
    )


class TestContract:
    def test_every_container_gets_the_contract(self, tmp_path: Path) -> None:
        """The body is privileged, on the host network, with /dev and /iguana bound first."""
        body = container_body(_spec(tmp_path))
        assert body["privileged"] is True
        assert body["netns"] == {"nsmode": "host"}
        assert [(m["source"], m["destination"]) for m in body["mounts"][:2]] == [
            ("/dev", "/dev"),
            (str(tmp_path), "/iguana"),
        ]

    def test_iguana_true_wins_over_the_workflow(self, tmp_path: Path) -> None:
        """IGUANA=true is set over any value the workflow gave; other variables stay."""
        assert container_body(_spec(tmp_path))["env"] == {"IGUANA": "true", "A": "1"}

    def test_run_label_is_the_only_label(self, tmp_path: Path) -> None:
        """The run label comes from the spec, once, and the engine adds no other."""
        assert container_body(_spec(tmp_path))["labels"] == {RUN_LABEL: "run-1"}

    def test_volumes_keep_their_kinds(self, tmp_path: Path) -> None:
        """Named and anonymous volumes are libpod volumes; host paths are read-only binds."""
        body = container_body(_spec(tmp_path))
        assert body["volumes"] == [
            {"Name": "data", "Dest": "/data", "Options": []},
            {"Name": "", "Dest": "/scratch", "Options": []},
        ]
        assert body["mounts"][2] == {
            "type": "bind",
            "source": "/srv",
            "destination": "/srv",
            "options": ["rbind", "ro"],
        }

    def test_iguana_dir_is_found_again(self, tmp_path: Path) -> None:
        """The host directory at /iguana is read back from a contract spec."""
        assert iguana_dir_of(_spec(tmp_path)) == tmp_path


class TestTranslationAddsNothing:
    def test_a_spec_outside_the_contract_stays_outside(self) -> None:
        """A spec that asks for no privilege, network or mount gets none from the engine."""
        bare = ContainerSpec("bare", "img", {}, (), {}, privileged=False, host_network=False)
        body = container_body(bare)
        assert body["privileged"] is False
        assert "netns" not in body
        assert body["mounts"] == [] and body["volumes"] == [] and body["labels"] == {}
        with pytest.raises(ValueError, match="no /iguana"):
            iguana_dir_of(bare)
