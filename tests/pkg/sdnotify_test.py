# SPDX-License-Identifier: GPL-2.0
"""portwatchd under a fake service manager: READY=1 only once the control
socket accepts, STATUS= lines, WATCHDOG=1 from the event loop at half the
interval (and none while the loop is stopped), STOPPING=1, RELOADING=1 around
a SIGHUP, and a control socket passed by socket activation. A private
polling-mode daemon, private sockets; waits are bounded polls."""
import os, signal, socket, subprocess, sys, tempfile, time

BUILD = os.environ.get("BUILD", "build")
SLOW = int(os.environ.get("ITEST_SLOW", "1"))
tmp = tempfile.mkdtemp()
failed = False


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def ok(msg):
    print("ok:", msg)


def start(extra_env, pass_fds=(), args=()):
    env = dict(os.environ)
    env.update(extra_env)
    # LISTEN_PID/WATCHDOG_PID must name the daemon itself: set them in the shell it replaces
    cmd = ["sh", "-c", 'export LISTEN_PID=$$ WATCHDOG_PID=$$; exec "$@"', "sh",
           os.path.join(BUILD, "portwatchd"), "--no-bpf", "-s", sock_path,
           "-d", os.path.join(tmp, "state")] + list(args)
    if "LISTEN_FDS" not in extra_env:
        cmd[2] = 'export WATCHDOG_PID=$$; exec "$@"'
    return subprocess.Popen(cmd, env=env, pass_fds=pass_fds,
                            stderr=open(os.path.join(tmp, "log"), "a"))


def recv(n, deadline_s):
    """Messages received within deadline_s, stopping after n."""
    out = []
    end = time.monotonic() + deadline_s * SLOW
    while len(out) < n:
        left = end - time.monotonic()
        if left <= 0:
            break
        notify.settimeout(left)
        try:
            out.append(notify.recv(4096).decode())
        except socket.timeout:
            break
    return out


def can_connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock_path)
        s.sendall(b'{"v":1,"cmd":"ping"}\n')
        s.settimeout(5 * SLOW)
        return b'"ok":true' in s.recv(4096)
    except OSError:
        return False
    finally:
        s.close()


# fd 3 is where a passed socket goes: keep our own sockets off it
_hold = [os.open("/dev/null", os.O_RDONLY) for _ in range(4)]
sock_path = os.path.join(tmp, "pw.sock")
notify_path = os.path.join(tmp, "notify")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)

# 1. readiness, status, watchdog from the loop, stop
wd_usec = 400000
p = start({"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": str(wd_usec)})
try:
    msgs = recv(1, 10)
    if not msgs or "READY=1" not in msgs[0]:
        fail("no READY=1 (got %r)" % msgs)
    if not can_connect():
        fail("READY=1 sent before the control socket answers")
    if "STATUS=mode polling" not in msgs[0] or "sockets in the port map" not in msgs[0]:
        fail("READY without a STATUS line with mode and map size: %r" % msgs[0])
    ok("READY=1 once the socket answers: %r" % msgs[0].replace("\n", " | "))
    t0 = time.monotonic()
    msgs = [m for m in recv(50, 1.0) if "WATCHDOG=1" in m]
    # every 200 ms: 4-5 in a second (fewer only if the machine stalls)
    if len(msgs) < 3:
        fail("%d WATCHDOG=1 in 1 s with WatchdogSec=%.1fs" % (len(msgs), wd_usec / 1e6))
    ok("%d WATCHDOG=1 in 1 s at WATCHDOG_USEC=%d" % (len(msgs), wd_usec))
    os.kill(p.pid, signal.SIGSTOP)
    recv(50, 0.1)  # one in flight
    msgs = [m for m in recv(50, 0.6) if "WATCHDOG=1" in m]
    os.kill(p.pid, signal.SIGCONT)
    if msgs:
        fail("WATCHDOG=1 while the daemon was stopped")
    msgs = [m for m in recv(1, 2) if "WATCHDOG=1" in m]
    if not msgs:
        fail("no WATCHDOG=1 after SIGCONT")
    ok("no keep-alive while stopped, again after SIGCONT")
    if os.environ.get("PW_TEST_RELOAD", "1") == "1":
        os.kill(p.pid, signal.SIGHUP)
        msgs = []
        end = time.monotonic() + 5 * SLOW
        while time.monotonic() < end and not any("READY=1" in m for m in msgs):
            msgs += recv(1, end - time.monotonic())
        rel = [m for m in msgs if "RELOADING=1" in m]
        rdy = [i for i, m in enumerate(msgs) if "READY=1" in m]
        if not rel or not rdy or msgs.index(rel[0]) > rdy[0]:
            fail("SIGHUP: no RELOADING=1 then READY=1: %r" % msgs)
        ok("SIGHUP: RELOADING=1, then READY=1")
    p.send_signal(signal.SIGTERM)
    msgs = []
    end = time.monotonic() + 5 * SLOW
    while time.monotonic() < end and not any("STOPPING=1" in m for m in msgs):
        msgs += recv(1, end - time.monotonic())
    if not any("STOPPING=1" in m for m in msgs):
        fail("no STOPPING=1 after SIGTERM")
    if p.wait(10 * SLOW) != 0:
        fail("exit status %d after SIGTERM" % p.returncode)
    ok("STOPPING=1, exit 0")
finally:
    if p.poll() is None:
        p.kill()
        p.wait()

# 2. socket activation: the daemon serves the socket it was given, and leaves the file
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(sock_path)
ls.listen(16)
os.dup2(ls.fileno(), 3, inheritable=True)
p = start({"NOTIFY_SOCKET": notify_path, "LISTEN_FDS": "1"}, pass_fds=(3,))
try:
    msgs = recv(1, 10)
    if not msgs or "READY=1" not in msgs[0]:
        fail("socket activation: no READY=1 (got %r)" % msgs)
    if not can_connect():
        fail("socket activation: the passed socket does not answer")
    p.send_signal(signal.SIGTERM)
    p.wait(10 * SLOW)
    if not os.path.exists(sock_path):
        fail("socket activation: the daemon removed systemd's socket file")
    ok("socket activation: served the passed socket, left its file")
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
    os.close(3)
    ls.close()

# 3. a passed socket of the wrong kind is refused
os.unlink(sock_path)
ds = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ds.bind(sock_path)
os.dup2(ds.fileno(), 3, inheritable=True)
p = start({"LISTEN_FDS": "1"}, pass_fds=(3,))
rc = p.wait(10 * SLOW)
os.close(3)
if rc == 0:
    fail("a datagram socket passed as the control socket was accepted")
ok("a wrong passed socket is refused (exit %d)" % rc)
subprocess.run(["rm", "-rf", tmp])
