"""A model of yeyak's SQLite writer starting its write-ahead log over: one writer committing
small transactions of 16 KiB pages (WAL, synchronous=FULL, no auto-checkpoint, a 64 MiB
journal_size_limit, as store::sqlite opens it), a PASSIVE checkpointer every 20 ms and two
readers, for 20 s. With a mode, the writer runs `PRAGMA wal_checkpoint(MODE)` (readers waited
for at most 20 ms) about every 2,048 frames' worth of rows, times it, and reads the log's length
after its next commit (a handful of frames: the log started over).

    python3 bench/wal-restart-model.py none|TRUNCATE|RESTART     (from the repository's root;
    DB=PATH puts its database on the disk to be measured; default /tmp)

bench/wal-restart.md has what it showed. Python's sqlite3 module links the system's SQLite
(3.40.1 on this machine), not the one yeyak bundles (libsqlite3-sys 0.40's): the figures are the
disk's and SQLite's checkpoint modes', not yeyak's.
"""
import sqlite3, threading, time, os, sys, random
mode = sys.argv[1]  # TRUNCATE / RESTART / none
path = os.environ.get('DB', '/tmp/wal-restart-model.db')
for f in (path, path+'-wal', path+'-shm'):
    try: os.remove(f)
    except FileNotFoundError: pass
def conn():
    c = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
    c.execute('PRAGMA page_size=16384'); c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA synchronous=FULL')
    c.execute('PRAGMA wal_autocheckpoint=0'); c.execute('PRAGMA journal_size_limit=67108864')
    return c
w = conn()
w.execute('create table b(id integer primary key, person int, clinic int, pad blob)')
w.execute('create index bp on b(person)'); w.execute('create index bc on b(clinic, id)')
stop = False
def checkpointer():
    c = conn()
    while not stop:
        c.execute('PRAGMA wal_checkpoint(PASSIVE)').fetchone()
        time.sleep(0.02)
def reader():
    c = conn()
    while not stop:
        c.execute('select count(*) from b where person=?', (random.randrange(10**6),)).fetchone()
        time.sleep(0.0005)
ts = [threading.Thread(target=checkpointer, daemon=True)] + [threading.Thread(target=reader, daemon=True) for _ in range(2)]
for t in ts: t.start()
pid = 0; costs = []; after = []; t0 = time.time(); last_restart_frames = 0
while time.time() - t0 < 20:
    w.execute('begin immediate')
    for _ in range(20):
        pid += 1
        w.execute('insert into b(person, clinic, pad) values (?,?,?)', (random.randrange(10**6), random.randrange(10000), os.urandom(200)))
    w.execute('commit')
    frames = os.path.getsize(path+'-wal') // (16384+24) if os.path.exists(path+'-wal') else 0
    if mode != 'none':
        # count frames appended since the last start-over via a pragma: use wal_checkpoint(PASSIVE) result? approximate by file pos
        if pid - last_restart_frames >= 2048*20//6:
            a = time.perf_counter()
            w.execute('PRAGMA busy_timeout=20')
            r = w.execute(f'PRAGMA wal_checkpoint({mode})').fetchone()
            w.execute('PRAGMA busy_timeout=5000')
            costs.append(((time.perf_counter()-a)*1000, r))
            last_restart_frames = pid
            w.execute('begin immediate'); w.execute('insert into b(person, clinic, pad) values (1,1,zeroblob(1))'); w.execute('commit')
            after.append(w.execute('PRAGMA wal_checkpoint(PASSIVE)').fetchone()[1])
stop = True
for t in ts: t.join()
el = time.time()-t0
cs = sorted(c for c,_ in costs)
busy = sum(1 for _,r in costs if r[0]!=0)
print('log frames after the next commit', after[:20]); print(mode, 'rows/s %.0f' % (pid/el), 'start-overs', len(costs), 'busy', busy, 'ms p50 %.1f p90 %.1f max %.1f' % (cs[len(cs)//2], cs[len(cs)*9//10], cs[-1]) if cs else '', 'wal bytes', os.path.getsize(path+'-wal'))
