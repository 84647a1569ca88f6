"""Signing and verifying bytes with the user's git signing key, as git does.

When ``user.signingKey`` is configured, gitrunr signs progress updates and ledger
commits with it; without one they are recorded unsigned. ``git runr verify`` checks
what was signed. Everything here follows git's own rules, so a key that signs the
user's commits signs gitrunr's records, and a ledger commit signed here passes
``git verify-commit``:

- Configuration (git-config(1)): ``user.signingKey``; ``gpg.format`` (``openpgp``,
  the default, ``ssh`` or ``x509``); ``gpg.program`` / ``gpg.openpgp.program``
  (whichever is set last wins, default ``gpg``); ``gpg.ssh.program`` (default
  ``ssh-keygen``); ``gpg.ssh.allowedSignersFile``; ``gpg.ssh.revocationFile``;
  ``gpg.minTrustLevel``. It is read with ``git config`` in the repository, so
  repository-local settings win over global ones, and ``~`` in path-valued keys is
  expanded as git does.
- Signature formats (gitformat-signature(5)): ASCII-armored detached signatures,
  recognised by their first line: ``-----BEGIN PGP SIGNATURE-----`` (OpenPGP),
  ``-----BEGIN SSH SIGNATURE-----`` (SSH, namespace ``git``) and
  ``-----BEGIN SIGNED MESSAGE-----`` (x509).
- Commands: what git's ``gpg-interface.c`` runs: ``gpg --status-fd=2 -bsau KEY`` to
  sign and ``gpg --keyid-format=long --status-fd=1 --verify SIG -`` to verify;
  ``ssh-keygen -Y sign -n git -f KEY [-U] FILE`` to sign and ``ssh-keygen -Y
  find-principals`` / ``-Y verify`` / ``-Y check-novalidate`` to verify.

Decisions where git gives no answer for a record that is not a commit:

- ``gpg.format=x509`` with a signing key is refused (:class:`GitError` from
  :func:`signer`) rather than silently recording unsigned: the user asked for
  signatures and gitrunr cannot make them. x509 signatures met in
  :func:`verify` are ``unverifiable``.
- An SSH signature whose key is not trusted is ``unverifiable``, never ``valid``:
  with ``gpg.ssh.allowedSignersFile`` set, trusted means listed there (as in git);
  without it, gitrunr trusts only the user's own ``user.signingKey`` (git would
  refuse to verify at all), so the user's own records verify out of the box while
  a record re-signed with any other key does not pass as valid.
- Only an explicitly configured ``user.signingKey`` turns signing on: git's
  fall-backs (the committer identity for OpenPGP, ``gpg.ssh.defaultKeyCommand``
  for SSH) are not used, and an empty value means unsigned.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gitrunr.errors import GitError, RunrError
from gitrunr.git import first_line, run_git

#: Namespace of SSH signatures: git signs commits and tags in ``git``, so a ledger
#: commit signed here verifies with ``git verify-commit`` (gitformat-signature(5)).
SSH_NAMESPACE = "git"

PGP_ARMOR = ("-----BEGIN PGP SIGNATURE-----", "-----BEGIN PGP MESSAGE-----")
SSH_ARMOR = ("-----BEGIN SSH SIGNATURE-----",)
X509_ARMOR = ("-----BEGIN SIGNED MESSAGE-----",)

DEFAULT_PROGRAMS = {"openpgp": "gpg", "ssh": "ssh-keygen"}

# The keys gitrunr reads, in one `git config --get-regexp` call (names are lowercased
# by git in its output).
_CONFIG_KEYS = re.compile(
    r"^(user\.signingkey|gpg\.(format|program|mintrustlevel|openpgp\.program"
    r"|ssh\.program|ssh\.allowedsignersfile|ssh\.revocationfile))$")

_FORMATS: dict[str, Literal["openpgp", "ssh", "x509"]] = {
    "openpgp": "openpgp", "ssh": "ssh", "x509": "x509"}

#: gpg.minTrustLevel values in increasing order (git-config(1), gpg-interface.c).
TRUST_LEVELS = ("undefined", "never", "marginal", "fully", "ultimate")


@dataclass(frozen=True)
class Signer:
    """The user's git signing key and the program git would sign with.

    ``key`` is ``user.signingKey`` exactly as configured: for ``openpgp`` a key id
    or fingerprint passed to ``gpg -u``; for ``ssh`` a path to a private key, a
    path to a public key whose private half is in ssh-agent (or sits next to it
    without ``.pub``), or a literal public key (``key::ssh-ed25519 AAAA...`` or
    ``ssh-ed25519 AAAA...``) held by ssh-agent. ``base_dir`` is where a relative
    key path resolves (the repository's top level, where git runs).
    """

    format: Literal["openpgp", "ssh"]
    key: str
    program: str
    base_dir: Path | None = field(default=None, compare=False)

    def sign(self, data: bytes) -> str:
        """A detached, ASCII-armored signature of ``data``.

        The text starts ``-----BEGIN PGP SIGNATURE-----`` or ``-----BEGIN SSH
        SIGNATURE-----`` and ends with a newline; it can be embedded as a commit's
        ``gpgsig`` header as it is.

        Raises :class:`GitError` naming the program and its last word on stderr when
        signing fails (a locked key without an agent, a key id gpg does not have, a
        program that is not installed).
        """
        if self.format == "ssh":
            return self._sign_ssh(data)
        return self._sign_openpgp(data)

    def _sign_openpgp(self, data: bytes) -> str:
        # git: `gpg --status-fd=2 -bsau KEY`, success only with a SIG_CREATED status.
        argv = [self.program, "--status-fd=2", "-bsau", self.key]
        proc = _run(argv, input=data, cwd=self.base_dir)
        if proc is None:
            raise GitError(f"cannot sign: `{self.program}` is not installed or not on PATH; "
                           "install GnuPG, set gpg.program, or unset user.signingKey")
        created = any(line.startswith(b"[GNUPG:] SIG_CREATED ")
                      for line in proc.stderr.splitlines())
        if proc.returncode != 0 or not created:
            raise GitError(f"signing failed: `{' '.join(argv)}` exited {proc.returncode}: "
                           f"{last_line(proc.stderr)} (is the key in the keyring and "
                           "gpg-agent able to unlock it?)")
        return proc.stdout.decode("ascii", "replace").replace("\r", "")

    def _sign_ssh(self, data: bytes) -> str:
        with tempfile.TemporaryDirectory(prefix="gitrunr-sign-") as tmp:
            literal = literal_ssh_key(self.key)
            if literal is not None:
                # As git: the literal key goes to a temporary file and `-U` tells
                # ssh-keygen the private half is in ssh-agent.
                keyfile = Path(tmp, "signing_key.pub")
                keyfile.write_text(literal)
            else:
                keyfile = key_path(self.key, self.base_dir)
            buffer = Path(tmp, "buffer")
            buffer.write_bytes(data)
            argv = [self.program, "-Y", "sign", "-n", SSH_NAMESPACE, "-f", str(keyfile)]
            if literal is not None:
                argv.append("-U")
            argv.append(str(buffer))
            # stdin is /dev/null so a passphrase prompt without a terminal fails at
            # once instead of waiting (with a terminal ssh-keygen asks on /dev/tty).
            proc = _run(argv, cwd=self.base_dir)
            if proc is None:
                raise GitError(f"cannot sign: `{self.program}` is not installed or not on "
                               "PATH; install OpenSSH, set gpg.ssh.program, or unset "
                               "user.signingKey")
            if proc.returncode != 0:
                if b"usage:" in proc.stderr:
                    raise GitError(f"cannot sign: `{self.program} -Y sign` is not supported; "
                                   "SSH signing needs OpenSSH 8.2p1 or newer")
                raise GitError(f"signing failed: `{self.program} -Y sign -f {self.key}` exited "
                               f"{proc.returncode}: {last_line(proc.stderr)} (is the key "
                               "unlocked, or loaded in ssh-agent?)")
            try:
                sig = Path(f"{buffer}.sig").read_text("ascii", "replace")
            except OSError as exc:
                raise GitError(f"signing failed: `{self.program} -Y sign` wrote no signature "
                               f"file: {exc.strerror}") from None
        return sig.replace("\r", "")


def signer(repo_path: Path) -> Signer | None:
    """The signer git would use in the repository at ``repo_path``, or None (unsigned).

    None when ``user.signingKey`` is not set or empty (see git-config(1),
    ``user.signingKey``). The program is ``gpg.ssh.program`` for ``ssh``, and
    ``gpg.openpgp.program`` or ``gpg.program`` (whichever is set last) for
    ``openpgp``, defaulting to ``ssh-keygen`` and ``gpg`` as in git.

    Raises :class:`GitError` when ``gpg.format`` is ``x509`` (not supported for
    gitrunr signatures) or a value git itself rejects, or when git cannot read the
    configuration.
    """
    config = GpgConfig.read(repo_path)
    if not config.signing_key:
        return None
    if config.format == "x509":
        raise GitError("gpg.format x509 is not supported for gitrunr signatures; use "
                       "openpgp or ssh (`git config gpg.format ssh`), or unset "
                       "user.signingKey in this repository to record unsigned")
    return Signer(format=config.format, key=config.signing_key,
                  program=config.program(config.format), base_dir=repo_path)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one signature.

    ``status``: ``valid`` (a good signature by a trusted key), ``invalid`` (the data
    or the signature was altered, the signature is malformed, or its key is
    revoked or expired), ``unsigned`` (no signature), ``unverifiable`` (it could not
    be checked: the program is missing, gpg lacks the public key, the SSH key is not
    trusted, the format is not supported). ``signer`` is who the program says signed
    (the principal from the allowed-signers file, an SSH key fingerprint
    ``SHA256:...``, or an OpenPGP fingerprint, else its key id), when it says.
    ``detail`` is one human-readable line.
    """

    status: Literal["valid", "invalid", "unsigned", "unverifiable"]
    signer: str | None
    detail: str


def verify(repo_path: Path, data: bytes, signature: str | None) -> Verdict:
    """Check ``signature`` (armored, detached) over ``data`` with git's configuration
    in ``repo_path``.

    The format comes from the signature's first line (gitformat-signature(5)), not
    from ``gpg.format``, so records signed with either kind verify. Never raises
    for a bad signature, a missing program or a configuration git cannot read: every
    outcome is a :class:`Verdict`.
    """
    if not signature or not signature.strip():
        return Verdict("unsigned", None, "no signature")
    text = signature.lstrip()
    try:
        config = GpgConfig.read(repo_path)
        if text.startswith(SSH_ARMOR):
            return _verify_ssh(config, repo_path, data, text)
        if text.startswith(PGP_ARMOR):
            return _verify_openpgp(config, repo_path, data, text)
    except (RunrError, OSError) as exc:
        return Verdict("unverifiable", None, one_line(f"cannot check the signature: {exc}"))
    if text.startswith(X509_ARMOR):
        return Verdict("unverifiable", None,
                       "x509 (gpgsm) signatures are not supported by gitrunr")
    return Verdict("invalid", None,
                   "not an OpenPGP, SSH or x509 signature (unknown armor header)")


# ---------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class GpgConfig:
    """The signing configuration of one repository, as git resolves it."""

    signing_key: str
    format: Literal["openpgp", "ssh", "x509"]
    openpgp_program: str | None
    ssh_program: str | None
    allowed_signers: str | None
    revocation_file: str | None
    min_trust_level: str | None

    @classmethod
    def read(cls, repo_path: Path) -> GpgConfig:
        """Read the keys in one ``git config -z --get-regexp`` call in ``repo_path``.

        Entries come in git's order (system, global, local, worktree, command line),
        so the last one of a key wins, as in git. Raises :class:`GitError` when git
        cannot read the configuration or ``gpg.format`` has a value git rejects.
        """
        proc = run_git(["config", "-z", "--get-regexp", _CONFIG_KEYS.pattern],
                       cwd=repo_path, check=False)
        if proc.returncode not in (0, 1):  # 1: none of the keys is set
            raise GitError(f"`git config --get-regexp` exited {proc.returncode}: "
                           f"{first_line(proc.stderr)}")
        values: dict[str, str] = {}
        for entry in proc.stdout.split(b"\0"):
            if not entry:
                continue
            name, _, value = os.fsdecode(entry).partition("\n")
            if name in ("gpg.program", "gpg.openpgp.program"):
                # git: both set the OpenPGP program; the last one read wins.
                name = "gpg.openpgp.program"
            values[name] = value
        name = values.get("gpg.format", "openpgp")
        fmt = _FORMATS.get(name)
        if fmt is None:  # git is strict too: the value is case-sensitive
            raise GitError(f"invalid value for 'gpg.format': {name!r}; git accepts openpgp, "
                           "ssh or x509 (git-config(1))")
        return cls(signing_key=values.get("user.signingkey", ""),
                   format=fmt,
                   openpgp_program=values.get("gpg.openpgp.program") or None,
                   ssh_program=values.get("gpg.ssh.program") or None,
                   allowed_signers=values.get("gpg.ssh.allowedsignersfile") or None,
                   revocation_file=values.get("gpg.ssh.revocationfile") or None,
                   min_trust_level=values.get("gpg.mintrustlevel") or None)

    def program(self, fmt: Literal["openpgp", "ssh"]) -> str:
        configured = self.ssh_program if fmt == "ssh" else self.openpgp_program
        return configured or DEFAULT_PROGRAMS[fmt]


def literal_ssh_key(key: str) -> str | None:
    """The public key in ``key`` when it is a literal, else None (it is a path).

    git's rule (``is_literal_ssh_key``): a ``key::`` prefix, or a value starting
    ``ssh-``; other key types need the ``key::`` prefix.
    """
    if key.startswith("key::"):
        return key[len("key::"):]
    if key.startswith("ssh-"):
        return key
    return None


def key_path(value: str, base_dir: Path | None) -> Path:
    """A path-valued setting as git reads it: ``~`` and ``~user`` expanded, a relative
    path taken from ``base_dir`` (the top level, where git runs)."""
    path = Path(os.path.expanduser(value))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


# ---------------------------------------------------------------------------
# Verification


def _verify_ssh(config: GpgConfig, repo_path: Path, data: bytes, signature: str) -> Verdict:
    program = config.program("ssh")
    with tempfile.TemporaryDirectory(prefix="gitrunr-verify-") as tmp:
        sig_file = Path(tmp, "signature.sig")
        sig_file.write_text(signature)
        if config.allowed_signers:
            return _verify_ssh_allowed(config, program, repo_path, data, str(sig_file))
        # No allowed-signers file: git refuses to verify. gitrunr checks the signature
        # against the key embedded in it and trusts that key only if it is the
        # user's own signing key.
        proc = _run([program, "-Y", "check-novalidate", "-n", SSH_NAMESPACE,
                     "-s", str(sig_file)], input=data, cwd=repo_path)
    if proc is None:
        return _missing(program, "ssh")
    good = _good_ssh(proc)
    if good is None:
        return _bad_ssh(program, proc)
    fingerprint = good[1]
    own = (_ssh_fingerprint(program, config.signing_key, repo_path)
           if config.format == "ssh" and config.signing_key else None)
    if own is not None and own == fingerprint:
        return Verdict("valid", fingerprint,
                       f"good signature by your signing key {fingerprint} (user.signingKey); "
                       "set gpg.ssh.allowedSignersFile to check other signers")
    return Verdict("unverifiable", fingerprint,
                   f"good signature by key {fingerprint}, which is not your user.signingKey; "
                   "list trusted keys in gpg.ssh.allowedSignersFile to verify it")


def _verify_ssh_allowed(config: GpgConfig, program: str, repo_path: Path, data: bytes,
                        sig_file: str) -> Verdict:
    """git's ``verify_ssh_signed_buffer``: find the principals the signature's key is
    listed for, verify as each in turn; a key listed for nobody is untrusted."""
    assert config.allowed_signers is not None
    allowed = key_path(config.allowed_signers, repo_path)
    if not allowed.is_file():
        return Verdict("unverifiable", None,
                       f"gpg.ssh.allowedSignersFile {allowed} does not exist")
    found = _run([program, "-Y", "find-principals", "-f", str(allowed), "-s", sig_file],
                 cwd=repo_path)
    if found is None:
        return _missing(program, "ssh")
    if found.returncode != 0 and b"usage:" in found.stderr:
        return Verdict("unverifiable", None, f"`{program} -Y find-principals` is not "
                       "supported; SSH signatures need OpenSSH 8.2p1 or newer")
    principals = [line.strip() for line in found.stdout.decode("utf-8", "replace").splitlines()
                  if line.strip()] if found.returncode == 0 else []
    if not principals:
        check = _run([program, "-Y", "check-novalidate", "-n", SSH_NAMESPACE, "-s", sig_file],
                     input=data, cwd=repo_path)
        if check is None:
            return _missing(program, "ssh")
        good = _good_ssh(check)
        if good is None:
            return _bad_ssh(program, check)
        return Verdict("unverifiable", good[1],
                       f"good signature by key {good[1]}, which is not listed in "
                       f"gpg.ssh.allowedSignersFile ({allowed})")
    revocation = key_path(config.revocation_file, repo_path) if config.revocation_file else None
    last: subprocess.CompletedProcess[bytes] | None = None
    for principal in principals:
        argv = [program, "-Y", "verify", "-n", SSH_NAMESPACE, "-f", str(allowed),
                "-I", principal, "-s", sig_file]
        if revocation is not None and revocation.exists():
            argv += ["-r", str(revocation)]
        last = _run(argv, input=data, cwd=repo_path)
        if last is None:
            return _missing(program, "ssh")
        good = _good_ssh(last)
        if good is not None:
            note = ("" if revocation is None or revocation.exists()
                    else f"; gpg.ssh.revocationFile {revocation} not found")
            return Verdict("valid", good[0] or principal,
                           f"good signature by {good[0] or principal} with key {good[1]}{note}")
    assert last is not None
    return _bad_ssh(program, last)


_GOOD_SSH = re.compile(r'^Good "[^"]*" signature (?:for (?P<principal>.*) )?with .* key '
                       r"(?P<fingerprint>\S+)\s*$")


def _good_ssh(proc: subprocess.CompletedProcess[bytes]) -> tuple[str | None, str] | None:
    """``(principal, fingerprint)`` from ssh-keygen's ``Good "git" signature [for P] with
    ED25519 key SHA256:...`` line, or None when it did not report a good signature.
    The principal is what precedes the last `` with `` (it may hold spaces), as in git."""
    if proc.returncode != 0:
        return None
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        match = _GOOD_SSH.match(line)
        if match:
            return match["principal"], match["fingerprint"]
    return None


def _bad_ssh(program: str, proc: subprocess.CompletedProcess[bytes]) -> Verdict:
    if b"usage:" in proc.stderr:
        return Verdict("unverifiable", None, f"`{program} -Y` signature commands are not "
                       "supported; SSH signatures need OpenSSH 8.2p1 or newer")
    return Verdict("invalid", None, f"bad SSH signature: {last_line(proc.stderr)}")


def _ssh_fingerprint(program: str, key: str, base_dir: Path) -> str | None:
    """The ``SHA256:...`` fingerprint of an SSH ``user.signingKey`` (a literal key or a
    key file; ``ssh-keygen -l`` reads the public half of a private key file without
    its passphrase), or None when ssh-keygen cannot read it."""
    literal = literal_ssh_key(key)
    if literal is not None:
        proc = _run([program, "-l", "-f", "-"], input=literal.encode(), cwd=base_dir)
    else:
        proc = _run([program, "-l", "-f", str(key_path(key, base_dir))], cwd=base_dir)
    if proc is None or proc.returncode != 0:
        return None
    fields = proc.stdout.decode("utf-8", "replace").split()
    return fields[1] if len(fields) > 1 else None


# Statuses of which a verification may report only one (git's GPG_STATUS_EXCLUSIVE).
_EXCLUSIVE = ("GOODSIG", "BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG")


def _verify_openpgp(config: GpgConfig, repo_path: Path, data: bytes,
                    signature: str) -> Verdict:
    program = config.program("openpgp")
    with tempfile.TemporaryDirectory(prefix="gitrunr-verify-") as tmp:
        sig_file = Path(tmp, "signature.asc")
        sig_file.write_text(signature)
        proc = _run([program, "--keyid-format=long", "--status-fd=1", "--verify",
                     str(sig_file), "-"], input=data, cwd=repo_path)
    if proc is None:
        return _missing(program, "openpgp")
    statuses: dict[str, list[str]] = {}
    exclusive = 0
    for raw in proc.stdout.decode("utf-8", "replace").splitlines():
        if not raw.startswith("[GNUPG:] "):
            continue
        word, _, rest = raw[len("[GNUPG:] "):].partition(" ")
        exclusive += word in _EXCLUSIVE
        statuses[word] = rest.split(" ")
    if exclusive > 1:
        return Verdict("invalid", None,
                       "more than one signature; gitrunr accepts exactly one (as git)")
    who = _gpg_signer(statuses)
    uid = _gpg_uid(statuses)
    if "GOODSIG" in statuses and proc.returncode == 0:
        return _trusted(config, statuses, who, f"good signature by {uid} ({who})")
    if "BADSIG" in statuses:
        return Verdict("invalid", who, f"BAD signature from {uid} ({who})")
    if "ERRSIG" in statuses:
        fields = statuses["ERRSIG"]
        keyid = fields[0]
        rc = fields[5] if len(fields) > 5 else ""
        if rc == "9" or "NO_PUBKEY" in statuses:
            return Verdict("unverifiable", keyid,
                           f"no public key {keyid} in the keyring; import it with "
                           "`gpg --import` to check this signature")
        if rc == "4":
            return Verdict("unverifiable", keyid,
                           f"{program} does not support the algorithm of key {keyid}")
        return Verdict("invalid", keyid,
                       f"cannot check the signature by {keyid}: {last_line(proc.stderr)}")
    for word, what in (("EXPSIG", "expired signature"),
                       ("EXPKEYSIG", "good signature by an expired key"),
                       ("REVKEYSIG", "good signature by a revoked key")):
        if word in statuses:
            return Verdict("invalid", who, f"{what}: {uid} ({who})")
    return Verdict("invalid", None, f"not a valid OpenPGP signature: {last_line(proc.stderr)}")


def _gpg_signer(statuses: dict[str, list[str]]) -> str | None:
    """The primary key fingerprint from VALIDSIG (else the signing key's), else the key
    id of the exclusive status."""
    valid = statuses.get("VALIDSIG")
    if valid:
        return valid[9] if len(valid) > 9 and valid[9] else valid[0]
    for word in _EXCLUSIVE:
        if word in statuses and statuses[word][0]:
            return statuses[word][0]
    return None


def _gpg_uid(statuses: dict[str, list[str]]) -> str:
    for word in ("GOODSIG", "BADSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG"):
        fields = statuses.get(word)
        if fields and len(fields) > 1:
            return " ".join(fields[1:])
    return "an unknown user"


def _trusted(config: GpgConfig, statuses: dict[str, list[str]], who: str | None,
             detail: str) -> Verdict:
    """Apply ``gpg.minTrustLevel`` (git-config(1)) to a good OpenPGP signature: below it,
    the signer is not trusted enough to call the signature valid."""
    level = next((word[len("TRUST_"):].lower() for word in statuses
                  if word.startswith("TRUST_")), "undefined")
    if config.min_trust_level is None:
        return Verdict("valid", who, detail)
    minimum = config.min_trust_level.lower()
    if minimum not in TRUST_LEVELS:
        return Verdict("unverifiable", who,
                       f"invalid value for 'gpg.minTrustLevel': {config.min_trust_level!r}")
    if level in TRUST_LEVELS and TRUST_LEVELS.index(level) >= TRUST_LEVELS.index(minimum):
        return Verdict("valid", who, f"{detail}, trust {level}")
    return Verdict("unverifiable", who,
                   f"{detail}, but its trust ({level}) is below gpg.minTrustLevel ({minimum})")


def _missing(program: str, fmt: str) -> Verdict:
    key = "gpg.ssh.program" if fmt == "ssh" else "gpg.program"
    return Verdict("unverifiable", None,
                   f"`{program}` is not installed or not on PATH; install it or set {key}")


# ---------------------------------------------------------------------------
# Processes


def _run(argv: Sequence[str], *, input: bytes | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[bytes] | None:
    """Run ``argv`` (no shell, like git's run-command); None when the program cannot be
    started. Without ``input``, stdin is /dev/null, so nothing waits on a prompt."""
    try:
        return subprocess.run(list(argv), input=input, capture_output=True, cwd=cwd,
                              stdin=subprocess.DEVNULL if input is None else None,
                              check=False)
    except OSError:
        return None


def last_line(stderr: bytes) -> str:
    """The last non-empty line of a program's stderr that is not a ``[GNUPG:]`` status
    line (gpg's own words, such as ``gpg: signing failed: No secret key``)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()
             if line.strip()]
    words = [line for line in lines if not line.startswith("[GNUPG:]")]
    return (words or lines or ["no message"])[-1]


def one_line(text: str) -> str:
    return " ".join(text.split())
