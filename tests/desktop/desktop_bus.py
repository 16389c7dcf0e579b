#!/usr/bin/env python3
"""The desktop services a test session lacks, on the test's private D-Bus session bus.

serve RECORD
    Owns org.freedesktop.Notifications (records every Notify call) and
    org.kde.StatusNotifierWatcher (records every tray icon that registers, and says a tray
    host is present so the app's icon exports itself on the bus). Appends one JSON object
    per line to RECORD.
tray RECORD menu
    Prints the registered tray icon's properties and its menu as JSON.
tray RECORD click LABEL
    Clicks the menu item whose label starts with LABEL, as a tray host does.
"""
import json
import sys
import time

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop


def record(path, entry):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()


class Notifications(dbus.service.Object):
    IFACE = "org.freedesktop.Notifications"

    def __init__(self, bus, path, out):
        super().__init__(bus, "/org/freedesktop/Notifications")
        self.out = out
        self.next_id = 1

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):
        nid = self.next_id
        self.next_id += 1
        urgency = int(hints["urgency"]) if "urgency" in hints else None
        record(self.out, {"kind": "notification", "app": str(app), "summary": str(summary),
                          "body": str(body), "urgency": urgency})
        return nid

    @dbus.service.method(IFACE, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["body"]

    @dbus.service.method(IFACE, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        pass

    @dbus.service.method(IFACE, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("tidemark-test", "tidemark", "1", "1.2")


class Watcher(dbus.service.Object):
    IFACE = "org.kde.StatusNotifierWatcher"

    def __init__(self, bus, out):
        super().__init__(bus, "/StatusNotifierWatcher")
        self.out = out
        self.items = []

    @dbus.service.method(IFACE, in_signature="s", out_signature="", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        # Items register either a bus name or an object path on their own connection.
        if service.startswith("/"):
            name, path = sender, service
        else:
            name, path = service, "/StatusNotifierItem"
        self.items.append(f"{name}{path}")
        record(self.out, {"kind": "tray-item", "name": str(name), "path": str(path)})
        self.StatusNotifierItemRegistered(f"{name}{path}")

    @dbus.service.method(IFACE, in_signature="s", out_signature="")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(IFACE, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.signal(IFACE, signature="")
    def StatusNotifierHostRegistered(self):
        pass

    def props(self):
        return {
            "RegisteredStatusNotifierItems": dbus.Array(self.items, signature="s"),
            "IsStatusNotifierHostRegistered": True,
            "ProtocolVersion": dbus.Int32(0),
        }

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, iface, prop):
        return self.props()[prop]

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return self.props()


def serve(out):
    from gi.repository import GLib

    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    keep = [
        dbus.service.BusName("org.freedesktop.Notifications", bus),
        Notifications(bus, None, out),
        dbus.service.BusName("org.kde.StatusNotifierWatcher", bus),
        Watcher(bus, out),
    ]
    record(out, {"kind": "ready"})
    GLib.MainLoop().run()
    return keep


def tray_item(out):
    items = []
    with open(out, encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            if e["kind"] == "tray-item":
                items.append(e)
    if not items:
        sys.exit("no tray icon registered")
    return items[-1]


def layout(menu):
    _rev, root = menu.GetLayout(0, -1, dbus.Array([], signature="s"))

    def walk(node):
        nid, props, children = node
        entry = {"id": int(nid)}
        for k in ("label", "enabled", "visible", "type"):
            if k in props:
                v = props[k]
                entry[k] = bool(v) if isinstance(v, dbus.Boolean) else str(v)
        entry["children"] = [walk(c) for c in children]
        return entry

    return walk(root)


def flat(node):
    yield node
    for c in node["children"]:
        yield from flat(c)


def tray(out, cmd, arg):
    bus = dbus.SessionBus()
    item = tray_item(out)
    obj = bus.get_object(item["name"], item["path"])
    props = dbus.Interface(obj, dbus.PROPERTIES_IFACE)
    iface = "org.kde.StatusNotifierItem"
    info = {}
    for p in ("Title", "Status", "IconName", "IconThemePath", "XAyatanaLabel", "Menu"):
        try:
            info[p] = str(props.Get(iface, p))
        except dbus.DBusException as e:
            info[p] = None
    menu = dbus.Interface(bus.get_object(item["name"], info["Menu"]), "com.canonical.dbusmenu")
    try:
        menu.AboutToShow(0)
    except dbus.DBusException:
        pass
    tree = layout(menu)
    if cmd == "menu":
        info["items"] = [
            {"label": n.get("label", "").replace("_", ""), "enabled": n.get("enabled", True)}
            for n in flat(tree) if n["id"] != 0 and n.get("type") != "separator"
        ]
        print(json.dumps(info))
    elif cmd == "click":
        for n in flat(tree):
            if n.get("label", "").replace("_", "").startswith(arg):
                menu.Event(n["id"], "clicked", dbus.Int32(0, variant_level=1),
                           dbus.UInt32(int(time.time())))
                print(json.dumps({"clicked": n.get("label")}))
                return
        sys.exit(f"no menu item starting with {arg!r} in {json.dumps(tree)}")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "tray":
        tray(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        sys.exit(__doc__)
