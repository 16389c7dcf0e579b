#!/usr/bin/env python3
"""What a window manager would do, for a test display that has none.

state TITLE   prints the map state of each top-level window titled TITLE (viewable/unmapped)
close TITLE   asks each such window to close (WM_DELETE_WINDOW), as a title bar's x does
"""
import sys

from Xlib import X, display, protocol


def windows(d, title):
    found = []
    stack = [d.screen().root]
    while stack:
        w = stack.pop()
        try:
            name = w.get_wm_name()
            children = w.query_tree().children
        except Exception:  # the window went away meanwhile
            continue
        if name == title and w.get_wm_protocols() is not None:
            found.append(w)
        stack.extend(children)
    return found


def main():
    cmd, title = sys.argv[1], sys.argv[2]
    d = display.Display()
    found = windows(d, title)
    if cmd == "state":
        states = {X.IsViewable: "viewable", X.IsUnmapped: "unmapped", X.IsUnviewable: "unviewable"}
        print(" ".join(states[w.get_attributes().map_state] for w in found))
    elif cmd == "close":
        if not found:
            sys.exit(f"no window titled {title!r}")
        protocols = d.intern_atom("WM_PROTOCOLS")
        delete = d.intern_atom("WM_DELETE_WINDOW")
        for w in found:
            ev = protocol.event.ClientMessage(window=w, client_type=protocols,
                                              data=(32, [delete, X.CurrentTime, 0, 0, 0]))
            w.send_event(ev)
        d.flush()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
