#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Smoke test of a built tree, meant to run as root inside a run-guest.sh guest
(it starts its own portwatchd on a private socket and state directory and
touches only sockets and processes it creates).

  smoke.py BUILD_DIR [--expect bpf|polling] [--compare-ss] [--status-only]

Steps, each polled with a deadline scaled by $ITEST_SLOW: the daemon starts and
answers; a bind of a helper process is seen in `portwatch ports`; an allocation
owned by the helper goes stale or is released when the helper is SIGKILLed
(from the exit event when the exit hook is attached); an allocation is
released. --compare-ss: the port map equals what `ss` lists for a set of TCP
and UDP sockets (IPv4 and IPv6). Prints "PWVM-STATUS {json}" with mode, hooks
and degraded from `portwatch status --json`, then "smoke: N passed, N failed".
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

SLOW = max(1, int(os.environ.get("ITEST_SLOW", "1") or 1))


class Smoke:
    def __init__(self, build, expect):
        self.build = build
        self.expect = expect
        self.dir = tempfile.mkdtemp(prefix="pwsmoke.")
        self.sock = os.path.join(self.dir, "sock")
        self.daemon = None
        self.passed = 0
        self.failed = 0
        self.procs = []

    def cli(self, *args, check=True):
        r = subprocess.run([os.path.join(self.build, "portwatch"), "-s", self.sock, "--json",
                            *args], capture_output=True, text=True, timeout=60 * SLOW)
        if check and r.returncode != 0:
            raise RuntimeError("portwatch %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                             r.stderr.strip()))
        return json.loads(r.stdout) if r.stdout.strip() else None

    def wait_for(self, what, cond, secs):
        deadline = time.monotonic() + secs * SLOW
        last = None
        while time.monotonic() < deadline:
            try:
                v = cond()
                if v:
                    return v
            except (RuntimeError, ValueError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError("timed out (%ds x ITEST_SLOW %d) waiting for %s%s" %
                           (secs, SLOW, what, ": %s" % last if last else ""))

    def check(self, name, fn):
        t = time.monotonic()
        try:
            fn()
            self.passed += 1
            print("  PASS  %-34s %.1fs" % (name, time.monotonic() - t), flush=True)
        except Exception as e:  # report every failure, go on with the next step
            self.failed += 1
            print("  FAIL  %-34s %s" % (name, e), flush=True)

    def helper(self, *args):
        p = subprocess.Popen([os.path.join(self.build, "tests", "helper"), *args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    # ---- steps ----------------------------------------------------------
    def start(self, extra=()):
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.daemon = subprocess.Popen([os.path.join(self.build, "portwatchd"), "-s", self.sock,
                                        "-d", os.path.join(self.dir, "state"), *extra],
                                       stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            if self.daemon.poll() is not None:
                raise SystemExit("portwatchd exited with %d:\n%s" %
                                 (self.daemon.returncode, open(self.log.name).read()))
            return os.path.exists(self.sock) and self.cli("status", check=False)
        self.wait_for("the control socket", up, 60)
        st = self.cli("status")
        self.status = st
        print("PWVM-STATUS " + json.dumps({"mode": st["mode"], "mode_reason": st["mode_reason"],
                                           "hooks": st["hooks"],
                                           "degraded": st.get("degraded", [])}), flush=True)
        if self.expect and st["mode"] != self.expect:
            raise RuntimeError("mode %s (%s), expected %s" % (st["mode"], st["mode_reason"],
                                                              self.expect))
        # every fallback in use is named in status, with what it replaces
        degraded = " ".join(st.get("degraded", []))
        for h in st["hooks"]:
            if h.startswith("raw_tp/") and h.split("/", 1)[1] not in degraded:
                raise RuntimeError("%s in use but status does not say why: %s" % (h, degraded))
        rel = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
        if st["mode"] == "bpf" and rel < (5, 14) and "SO_NETNS_COOKIE" not in degraded:
            raise RuntimeError("no SO_NETNS_COOKIE on %s, status does not say so" %
                               os.uname().release)

    def bind_seen(self):
        h = self.helper("listen", "tcp4", "0")
        port = int(h.stdout.readline())
        self.holder, self.holder_port = h, port

        def seen():
            rows = self.cli("ports", "--port", str(port))
            return [r for r in rows if r["pid"] == h.pid and r["proto"] == "tcp"]
        self.wait_for("port %d of pid %d in `portwatch ports`" % (port, h.pid), seen, 20)

    def kill_seen(self):
        h = self.holder
        a = self.cli("allocate", "dev", "--pid", str(h.pid))
        port = a["port"]
        exits = self.cli("status")["events"]["exit"]
        h.kill()
        h.wait()

        def gone():
            rows = [r for r in self.cli("list") if r["port"] == port]
            return not rows or rows[0]["state"] in ("stale", "released")
        self.wait_for("allocation %d of SIGKILLed pid %d to go stale" % (port, h.pid), gone, 30)
        if any(x.endswith("sched_process_exit") for x in self.status["hooks"]):
            after = self.cli("status")["events"]["exit"]
            if after <= exits:
                raise RuntimeError("no exit event counted (%d before, %d after)" %
                                   (exits, after))

    def release(self):
        a = self.cli("allocate", "dev", "--pid", str(os.getpid()))
        port = a["port"]
        self.cli("release", str(port))
        rows = [r for r in self.cli("list") if r["port"] == port and r["state"] != "released"]
        if rows:
            raise RuntimeError("allocation %d still listed as %s" % (port, rows[0]["state"]))

    def compare_ss(self):
        hs = [self.helper("listen", p, "0") for p in ("tcp4", "tcp6", "udp4", "udp6")]
        for h in hs:
            h.stdout.readline()

        def ss_set():
            out = subprocess.run(["ss", "-H", "-n", "-l", "-t", "-u"], capture_output=True,
                                 text=True, check=True).stdout
            s = set()
            for line in out.splitlines():
                f = line.split()
                addr, port = f[4].rsplit(":", 1)
                s.add((f[0], addr.strip("[]").split("%")[0], int(port)))
            return s

        def pw_set():
            return {(r["proto"], r["addr"], r["port"]) for r in self.cli("ports")}

        def equal():
            a, b = ss_set(), pw_set()
            self.diff = (a - b, b - a)
            return a == b and len(a) >= 4
        try:
            self.wait_for("the port map to equal ss", equal, 20)
        except RuntimeError as e:
            raise RuntimeError("%s; only in ss: %s; only in portwatch: %s" %
                               (e, sorted(self.diff[0]), sorted(self.diff[1])))
        for h in hs:
            h.stdin.close()
            h.wait()
        self.wait_for("the port map to equal ss after the closes",
                      lambda: ss_set() == pw_set(), 20)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(30 * SLOW)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    build = os.path.abspath(args.pop(0))
    expect = None
    compare = status_only = False
    while args:
        a = args.pop(0)
        if a == "--expect" and args:
            expect = args.pop(0)
        elif a == "--compare-ss":
            compare = True
        elif a == "--status-only":
            status_only = True
        else:
            sys.exit("smoke.py: unknown argument %s" % a)
    s = Smoke(build, expect)
    try:
        s.check("daemon starts, mode %s" % (expect or "any"), s.start)
        if s.failed:
            print(open(os.path.join(s.dir, "log")).read())
        elif not status_only:
            if compare:
                s.check("polled port map equals ss", s.compare_ss)
            failed = s.failed
            s.check("a bind is seen", s.bind_seen)
            if s.failed == failed:
                s.check("a SIGKILLed owner goes stale", s.kill_seen)
            s.check("an allocation is released", s.release)
    finally:
        s.stop()
    print("smoke: %d passed, %d failed" % (s.passed, s.failed))
    sys.exit(1 if s.failed else 0)


if __name__ == "__main__":
    main()
