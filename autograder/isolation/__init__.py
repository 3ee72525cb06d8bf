"""How a sandbox is isolated (sandbox.py starts it): capability probing (probe.py), cgroups v1
and v2 behind one interface (cgroups.py), the uid pool (uids.py), the data files a sandbox may
read (data.py), how its process is started and what it sees (backends.py), templates that fork
sandboxes (templates.py) and process helpers (processes.py)."""
