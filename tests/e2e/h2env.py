"""What the HTTP/2 tests share: Python's h2 (Debian's python3-h2, which
lives with Debian's /usr/bin/python3) and the skip of a build without
HTTP/2 (meson sets BERTH_HTTP2=0 there)."""
import os
import sys
import unittest


def import_h2():
    """Python's h2 package with its config, connection and events modules,
    or None without it. When it is missing and this interpreter is not
    /usr/bin/python3 (meson found another python3 first, pyenv's), the test
    runs again under /usr/bin/python3, once."""
    try:
        import h2.config  # noqa: F401
        import h2.connection  # noqa: F401
        import h2.events  # noqa: F401
        import h2
        return h2
    except ImportError:
        if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
                os.path.realpath("/usr/bin/python3") and not os.environ.get("BERTH_H2_REEXEC"):
            os.environ["BERTH_H2_REEXEC"] = "1"
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        return None


def main():
    """unittest.main() for the calling test file, or exit 77 (meson:
    skipped) saying why in a build without HTTP/2."""
    if os.environ.get("BERTH_HTTP2") == "0":
        print("skipped: berth was built without HTTP/2 (-Dhttp2=disabled, or no Debian "
              "libnghttp2-dev: scripts/deps.sh build)")
        sys.exit(77)
    unittest.main(module="__main__")
