#!/usr/bin/env python3
"""End-to-end tests of the `stylizer` CLI against a real stylizer-server: TLS,
mutual TLS and bearer tokens.

Shared set-up: cli_support.py.
"""
import os
import subprocess
import unittest

from cli_support import (CLI, main, make_class_dir, start_server, stop_server,
                         wait_until_healthy)

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True)


class CliSecurityTest(unittest.TestCase):
    """TLS, mutual TLS and bearer tokens from the CLI's side."""

    @classmethod
    def setUpClass(cls):
        make_class_dir(cls, "cli_e2e_security.")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "2", "-subj", "/CN=stylizer test CA", cwd=cls.tmp)
        for name, san in (("server", "IP:127.0.0.1,DNS:localhost"),
                          ("client", "DNS:client")):
            openssl("req", *ec, "-keyout", f"{name}.key", "-out",
                    f"{name}.csr", "-subj", f"/CN={name}", cwd=cls.tmp)
            with open(os.path.join(cls.tmp, f"{name}.ext"), "w") as f:
                f.write(f"subjectAltName={san}\n")
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
                    "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                    "-out", f"{name}.pem", "-extfile", f"{name}.ext",
                    cwd=cls.tmp)
        cls.token = os.path.join(cls.tmp, "token")
        with open(cls.token, "w") as f:
            f.write("a-long-enough-test-token-0123456789\n")
        cls.bad_token = os.path.join(cls.tmp, "bad_token")
        with open(cls.bad_token, "w") as f:
            f.write("not-the-right-token-but-long-enough\n")
        t = cls.tmp
        start_server(cls, f"--tls_cert={t}/server.pem",
                     f"--tls_key={t}/server.key", f"--tls_client_ca={t}/ca.pem",
                     f"--auth_token_file={cls.token}")
        cls.addr = f"127.0.0.1:{cls.port}"
        wait_until_healthy(cls)

    @classmethod
    def tearDownClass(cls):
        stop_server(cls)

    @classmethod
    def cli(cls, *args, tls=True, cert=True, token=None):
        flags = [f"--server={cls.addr}"]
        if tls:
            flags.append(f"--ca={cls.tmp}/ca.pem")
        if cert:
            flags += [f"--cert={cls.tmp}/client.pem", f"--key={cls.tmp}/client.key"]
        if token:
            flags.append(f"--token_file={token}")
        return subprocess.run([CLI, *flags, "--retries=0", *args],
                              capture_output=True, text=True, timeout=120)

    def test_right_certificate_and_token(self):
        r = self.cli("styles", token=self.token)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("klimt", r.stdout)

    def test_health_needs_no_token(self):
        r = self.cli("health")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_missing_or_wrong_token(self):
        for token in (None, self.bad_token):
            r = self.cli("styles", token=token)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("refused our credentials", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_without_client_certificate_or_tls(self):
        for kwargs in ({"cert": False}, {"tls": False, "cert": False}):
            r = self.cli("styles", token=self.token, **kwargs)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(self.addr, r.stderr)
        # Plaintext against TLS reads as "cannot reach": the address takes
        # connections, so the TLS flags are named (people went looking for
        # a server that was running).
        self.assertIn("its TLS setup and ours differ", r.stderr)

    def test_tls_server_name(self):
        # An exec probe dials 127.0.0.1 of a server whose certificate names
        # its Service: the name to check is given apart from the address.
        r = self.cli("--tls_server_name=localhost", "health")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("--tls_server_name=stylizer.example", "health")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(self.addr, r.stderr)

    def test_a_failed_handshake_is_one_line(self):
        # --tls with the system's roots, which do not trust this server's CA:
        # gRPC's own "Handshake failed" lines came before the command's.
        r = subprocess.run([CLI, f"--server={self.addr}", "--tls", "--retries=0", "styles"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertTrue(r.stderr.startswith("stylizer: error: "), r.stderr)
        # --verbose shows them.
        r = subprocess.run([CLI, f"--server={self.addr}", "--tls", "--retries=0", "--verbose",
                            "styles"], capture_output=True, text=True, timeout=120)
        self.assertIn("grpc: ", r.stderr)

    def test_unreadable_token_file(self):
        r = self.cli("styles", token=os.path.join(self.tmp, "missing"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot read the token file", r.stderr)

    def test_token_and_tls_files_must_be_small_regular_files(self):
        # A named pipe blocked the command until something wrote to it
        # (first: before the fix this ends the test at its timeout, before
        # /dev/zero, which was read until memory ran out).
        fifo = os.path.join(self.tmp, "token.fifo")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        r = subprocess.run([CLI, f"--server={self.addr}", f"--token_file={fifo}",
                            "styles"], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"the token file (--token_file) {fifo} is not a regular file",
                      r.stderr)
        for flags, says in (
                (["--token_file=/dev/zero"], "token file (--token_file) /dev/zero"),
                (["--token_file=/dev/stdin"], "(--token_file) /dev/stdin"),
                (["--ca=/dev/zero"], "CA file (--ca) /dev/zero"),
                ([f"--cert={self.tmp}/client.pem", f"--key={fifo}"],
                 f"client key (--key) {fifo}")):
            r = subprocess.run([CLI, f"--server={self.addr}", *flags, "styles"],
                               capture_output=True, text=True, timeout=20,
                               stdin=subprocess.PIPE)
            self.assertEqual(r.returncode, 1, (flags, r.stderr))
            self.assertIn(says, r.stderr)
            self.assertIn("is not a regular file", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        big = os.path.join(self.tmp, "big_token")
        with open(big, "w") as f:
            f.write("a" * (64 << 10) + "\n")
        r = self.cli("styles", token=big)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"the token file (--token_file) {big} is 65537 bytes, more than "
                      "such a file may be (65536)", r.stderr)

    def test_a_token_longer_than_the_servers_headers_take(self):
        # Under the CLI's 64 KiB but over the server's 64 KiB of headers with
        # "authorization: Bearer " and the others: gRPC's "received initial
        # metadata size exceeds limit" read as "the input is too large".
        long_token = os.path.join(self.tmp, "long_token")
        with open(long_token, "w") as f:
            f.write("a" * 65400 + "\n")
        r = self.cli("styles", token=long_token)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("the request's headers are larger than the server accepts "
                      "(the token from --token_file is 65400 bytes)", r.stderr)
        self.assertNotIn("too large for the server", r.stderr)
        self.assertNotIn("a" * 64, r.stderr)


if __name__ == "__main__":
    main()
