"""The one convention for external tools: the caller's error class, ``what: the tool's last
line``, for a missing tool, a timeout and (when checked) a non-zero exit; real programs run."""

from __future__ import annotations

import pytest

from iguana_fsm.errors import MountError, TrustError
from iguana_fsm.tools import run_tool


class TestRunTool:
    def test_output_comes_back(self) -> None:
        """A tool that succeeds gives its exit code and output as text."""
        result = run_tool(["sh", "-c", "echo out; echo err >&2"], "say", MountError)
        assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")

    def test_failure_raises_the_callers_class_with_the_last_line(self) -> None:
        """A non-zero exit raises the caller's class quoting the tool's last stderr line."""
        script = "echo first >&2; echo 'mount: /x: wrong fs type' >&2; exit 32"
        with pytest.raises(TrustError) as caught:
            run_tool(["sh", "-c", script], "mount /x", TrustError)
        assert str(caught.value) == "mount /x: mount: /x: wrong fs type"

    def test_failure_without_stderr_names_stdout_or_code(self) -> None:
        """With nothing on stderr the last stdout line counts, and with nothing at all the code."""
        with pytest.raises(MountError, match=r"^t: on stdout$"):
            run_tool(["sh", "-c", "echo on stdout; exit 1"], "t", MountError)
        with pytest.raises(MountError, match=r"^t: exit code 3$"):
            run_tool(["sh", "-c", "exit 3"], "t", MountError)

    def test_unchecked_failure_is_the_callers_to_read(self) -> None:
        """Without check a non-zero exit is returned, not raised."""
        assert run_tool(["sh", "-c", "exit 2"], "t", MountError, check=False).returncode == 2

    def test_missing_tool_is_an_error_even_unchecked(self) -> None:
        """A tool that is not installed raises, naming it, whether or not the exit is checked."""
        with pytest.raises(MountError, match=r"^find it: iguana-no-such-tool is not installed$"):
            run_tool(["iguana-no-such-tool"], "find it", MountError, check=False)

    def test_timeout_is_an_error_marked_as_such(self) -> None:
        """A tool that outlives its timeout is killed and raises with ``timed_out`` set."""
        with pytest.raises(MountError, match=r"^wait: sleep did not finish within") as caught:
            run_tool(["sleep", "30"], "wait", MountError, timeout=0.2, check=False)
        assert caught.value.details == {"timed_out": True}

    def test_bytes_that_are_not_utf8_do_not_fail(self) -> None:
        """Output that is not UTF-8 is replaced, never a reason to fail."""
        result = run_tool(["printf", "\\377ok"], "t", MountError)
        assert result.stdout == "\ufffdok"
