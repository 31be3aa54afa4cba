"""Where Iguana asks for an image's manifest (iguana_fsm/engine/remote.py): registries.conf's
plain-http hosts and mirrors, read as podman reads them (containers-registries.conf(5)); the
requests themselves go to a real registry in tests/integration/test_memory.py."""

from __future__ import annotations

from pathlib import Path

from iguana_fsm.engine.remote import _endpoints, _registries

# what dracut/95iguana-images writes for an offline device holding registry.example:5000's images
OFFLINE = """\
[[registry]]
location = "127.0.0.1:5000"
insecure = true

[[registry]]
prefix = "registry.example:5000"
location = "registry.example:5000"
[[registry.mirror]]
location = "127.0.0.1:5000/registry.example:5000"
insecure = true
"""


class TestEndpoints:
    def test_mirror_first_then_the_registry(self, tmp_path: Path) -> None:
        """A prefix's mirrors are asked first, with the repository's tail appended."""
        conf = tmp_path / "registries.conf"
        conf.write_text(OFFLINE)
        config = _registries({"CONTAINERS_REGISTRIES_CONF": str(conf)})
        assert _endpoints("registry.example:5000/tools/parted", config) == [
            ("127.0.0.1:5000", "registry.example:5000/tools/parted"),
            ("registry.example:5000", "tools/parted"),
        ]
        assert config.insecure == {"127.0.0.1:5000"}

    def test_no_prefix_is_the_repository_itself(self, tmp_path: Path) -> None:
        """Without a matching prefix the repository's own registry is asked (https)."""
        conf = tmp_path / "registries.conf"
        conf.write_text(OFFLINE)
        config = _registries({"CONTAINERS_REGISTRIES_CONF": str(conf)})
        assert _endpoints("other.example/a/b", config) == [("other.example", "a/b")]
        # a prefix matches whole path parts only
        assert _endpoints("registry.example:50001/x", config) == [("registry.example:50001", "x")]

    def test_unreadable_configuration_is_none(self, tmp_path: Path) -> None:
        """A missing or broken file adds nothing."""
        broken = tmp_path / "broken.conf"
        broken.write_text("[[registry]\n")
        for path in (broken, tmp_path / "missing.conf"):
            config = _registries({"CONTAINERS_REGISTRIES_CONF": str(path)})
            assert config.insecure == set() and config.mirrors == {}
