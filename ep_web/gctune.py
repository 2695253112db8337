"""The garbage collector's settings of a serving process (deploy/gunicorn.conf.py,
bench/indicators.py).

- gc.freeze() once the app is built: its ~200 000 objects (models, SQLAlchemy,
  Jinja) live as long as the process; frozen, a full collection no longer walks
  them, and their pages stay shared with the master (no copy-on-write by the
  collector's writes).
- A first generation of 50 000 objects instead of 700: an indicators page
  makes 100 000 to 300 000 objects (a caisse's 2 500 partners), most of them
  gone when it ends by reference counting alone; at 700 the collector ran a
  few hundred young collections per such request, and a full collection every
  few requests (17 to 120 ms each on bench_ind14, inside the request). The
  cyclic garbage a request leaves waits a little longer: memory, not time.
"""
import gc

THRESHOLD = (50_000, 20, 20)


def tune() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLD)
