"""Process tree lookups from /proc, for scenarios that watch the proxy's
workers (badinput.py, worker_spread.py)."""
import os


def children_map():
    """{ppid: [pid, ...]} for every process visible in /proc."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            # pid (comm) state ppid ...: comm may hold spaces and ")"
            ppid = int(st.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def children(pid):
    """The direct children of pid, sorted."""
    return sorted(children_map().get(pid, []))


def descendants(pid):
    """Every process below pid, at any depth."""
    kids, out, todo = children_map(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out
