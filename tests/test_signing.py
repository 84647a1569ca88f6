"""Signing and verifying with real SSH and OpenPGP keys made in temporary directories.

Keys, keyrings and agents live under temporary directories, never in ``$HOME``.
GnuPG homes are made with a short path under /tmp (gpg-agent's sockets fail when
their path passes ~100 characters) and their agents are stopped after each test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from gitrunr.errors import GitError
from gitrunr.signing import Signer, Verdict, signer, verify
from tests.conftest import GitRepo

DATA = b'{"run": "r1", "seq": 1, "summary": "tests pass"}\n'

needs_ssh = pytest.mark.skipif(shutil.which("ssh-keygen") is None,
                               reason="ssh-keygen is not installed")
needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None or shutil.which("gpgconf") is None,
                               reason="GnuPG is not installed")


def tamper(signature: str) -> str:
    """The signature with one base64 character of its last body line changed."""
    lines = signature.splitlines()
    body = [i for i, line in enumerate(lines)
            if line and not line.startswith(("-----", "=")) and ":" not in line]
    i = body[-1]
    mid = len(lines[i]) // 2
    swapped = "B" if lines[i][mid] != "B" else "C"
    lines[i] = lines[i][:mid] + swapped + lines[i][mid + 1:]
    return "\n".join(lines) + "\n"


def make_ssh_key(path: Path, comment: str = "ada@example.com") -> Path:
    subprocess.run(["ssh-keygen", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path),
                    "-q"], check=True, stdin=subprocess.DEVNULL)
    return path


# ---------------------------------------------------------------------------
# SSH


@pytest.fixture
def ssh_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A passphrase-less ed25519 key; the machine's ssh-agent is hidden."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return make_ssh_key(tmp_path / "key")


@pytest.fixture
def ssh_repo(repo: GitRepo, ssh_key: Path) -> GitRepo:
    repo.git("config", "gpg.format", "ssh")
    repo.git("config", "user.signingKey", str(ssh_key))
    return repo


@needs_ssh
def test_ssh_signer_follows_git_config(ssh_repo: GitRepo, ssh_key: Path) -> None:
    s = signer(ssh_repo.path)
    assert s == Signer(format="ssh", key=str(ssh_key), program="ssh-keygen")
    ssh_repo.git("config", "gpg.ssh.program", "/opt/ssh/bin/ssh-keygen")
    assert signer(ssh_repo.path) == Signer("ssh", str(ssh_key), "/opt/ssh/bin/ssh-keygen")


@needs_ssh
def test_ssh_sign_and_verify_with_own_key(ssh_repo: GitRepo) -> None:
    s = signer(ssh_repo.path)
    assert s is not None
    sig = s.sign(DATA)
    assert sig.startswith("-----BEGIN SSH SIGNATURE-----\n")
    assert sig.endswith("-----END SSH SIGNATURE-----\n")
    verdict = verify(ssh_repo.path, DATA, sig)
    assert verdict.status == "valid", verdict
    assert verdict.signer is not None and verdict.signer.startswith("SHA256:")
    assert "your signing key" in verdict.detail


@needs_ssh
def test_ssh_tampered_data_or_signature_is_invalid(ssh_repo: GitRepo) -> None:
    s = signer(ssh_repo.path)
    assert s is not None
    sig = s.sign(DATA)
    assert verify(ssh_repo.path, DATA + b" ", sig).status == "invalid"
    assert verify(ssh_repo.path, DATA.replace(b"r1", b"r2"), sig).status == "invalid"
    bad = verify(ssh_repo.path, DATA, tamper(sig))
    assert bad.status == "invalid"
    assert "\n" not in bad.detail


@needs_ssh
def test_ssh_public_key_path_signs_with_the_private_key_beside_it(
        ssh_repo: GitRepo, ssh_key: Path) -> None:
    # No agent: ssh-keygen finds the private key by dropping `.pub`.
    ssh_repo.git("config", "user.signingKey", f"{ssh_key}.pub")
    s = signer(ssh_repo.path)
    assert s is not None
    assert verify(ssh_repo.path, DATA, s.sign(DATA)).status == "valid"


@needs_ssh
def test_ssh_relative_key_path_resolves_from_the_repository(ssh_repo: GitRepo,
                                                            tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    ssh_repo.git("config", "user.signingKey", "../key")  # tmp_path/repo/../key
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    s = signer(ssh_repo.path)
    assert s is not None and s.key == "../key"
    assert verify(ssh_repo.path, DATA, s.sign(DATA)).status == "valid"


@pytest.fixture
def ssh_agent(ssh_key: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private ssh-agent holding ``ssh_key``; stopped (by its pid) after the test."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent is not installed")
    sock_dir = tempfile.mkdtemp(prefix="a", dir="/tmp")  # short: socket path limit
    sock = os.path.join(sock_dir, "agent")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.01)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        subprocess.run(["ssh-add", "-q", str(ssh_key)], check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)
        yield sock
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        shutil.rmtree(sock_dir, ignore_errors=True)


@needs_ssh
@pytest.mark.parametrize("prefix", ["key::", ""])
def test_ssh_literal_key_signs_through_the_agent(ssh_repo: GitRepo, ssh_key: Path,
                                                 ssh_agent: str, prefix: str) -> None:
    public = Path(f"{ssh_key}.pub").read_text().strip()
    ssh_repo.git("config", "user.signingKey", prefix + public)
    s = signer(ssh_repo.path)
    assert s is not None and s.key == prefix + public
    verdict = verify(ssh_repo.path, DATA, s.sign(DATA))
    assert verdict.status == "valid", verdict


@needs_ssh
def test_ssh_literal_key_without_agent_fails_with_one_line(ssh_repo: GitRepo,
                                                           ssh_key: Path) -> None:
    public = Path(f"{ssh_key}.pub").read_text().strip()
    ssh_repo.git("config", "user.signingKey", f"key::{public}")
    s = signer(ssh_repo.path)
    assert s is not None
    with pytest.raises(GitError, match="ssh-keygen") as err:
        s.sign(DATA)
    assert "\n" not in err.value.message


@needs_ssh
def test_ssh_key_of_someone_else_is_unverifiable_without_allowed_signers(
        ssh_repo: GitRepo, tmp_path: Path) -> None:
    other = make_ssh_key(tmp_path / "mallory", "mallory@example.com")
    sig = Signer("ssh", str(other), "ssh-keygen").sign(DATA)
    verdict = verify(ssh_repo.path, DATA, sig)
    assert verdict.status == "unverifiable", verdict
    assert "gpg.ssh.allowedSignersFile" in verdict.detail
    # Without any signing key of one's own, no SSH key is trusted either.
    ssh_repo.git("config", "--unset", "user.signingKey")
    assert verify(ssh_repo.path, DATA, sig).status == "unverifiable"
    # A bad signature is still bad, trusted key or not.
    assert verify(ssh_repo.path, b"other data", sig).status == "invalid"


@needs_ssh
def test_ssh_allowed_signers_names_the_principal(ssh_repo: GitRepo, ssh_key: Path,
                                                 tmp_path: Path) -> None:
    allowed = tmp_path / "allowed_signers"
    public = Path(f"{ssh_key}.pub").read_text().strip()
    allowed.write_text(f'ada@example.com namespaces="git" {public}\n')
    ssh_repo.git("config", "gpg.ssh.allowedSignersFile", str(allowed))
    s = signer(ssh_repo.path)
    assert s is not None
    sig = s.sign(DATA)
    verdict = verify(ssh_repo.path, DATA, sig)
    assert verdict == Verdict("valid", "ada@example.com", verdict.detail)
    assert "SHA256:" in verdict.detail
    assert verify(ssh_repo.path, DATA + b"x", sig).status == "invalid"
    assert verify(ssh_repo.path, DATA, tamper(sig)).status == "invalid"

    # A key not listed: a good signature, but nobody vouches for the key.
    other = make_ssh_key(tmp_path / "mallory", "mallory@example.com")
    foreign = Signer("ssh", str(other), "ssh-keygen").sign(DATA)
    verdict = verify(ssh_repo.path, DATA, foreign)
    assert verdict.status == "unverifiable", verdict
    assert verdict.signer is not None and verdict.signer.startswith("SHA256:")
    assert "not listed" in verdict.detail
    assert verify(ssh_repo.path, DATA + b"x", foreign).status == "invalid"

    # Once the allowed-signers file is configured it alone decides trust, as in git.
    allowed.write_text(f'bob@example.com namespaces="git" {Path(f"{other}.pub").read_text()}')
    assert verify(ssh_repo.path, DATA, sig).status == "unverifiable"


@needs_ssh
def test_ssh_revoked_key_is_invalid(ssh_repo: GitRepo, ssh_key: Path, tmp_path: Path) -> None:
    public = Path(f"{ssh_key}.pub").read_text().strip()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'ada@example.com namespaces="git" {public}\n')
    revoked = tmp_path / "revoked"
    revoked.write_text(public + "\n")
    ssh_repo.git("config", "gpg.ssh.allowedSignersFile", str(allowed))
    ssh_repo.git("config", "gpg.ssh.revocationFile", str(revoked))
    s = signer(ssh_repo.path)
    assert s is not None
    assert verify(ssh_repo.path, DATA, s.sign(DATA)).status == "invalid"


@needs_ssh
def test_ssh_missing_allowed_signers_file_is_unverifiable(ssh_repo: GitRepo,
                                                          tmp_path: Path) -> None:
    ssh_repo.git("config", "gpg.ssh.allowedSignersFile", str(tmp_path / "nope"))
    s = signer(ssh_repo.path)
    assert s is not None
    verdict = verify(ssh_repo.path, DATA, s.sign(DATA))
    assert verdict.status == "unverifiable"
    assert "does not exist" in verdict.detail


@needs_ssh
def test_ssh_missing_program(ssh_repo: GitRepo, tmp_path: Path) -> None:
    s = signer(ssh_repo.path)
    assert s is not None
    sig = s.sign(DATA)
    ssh_repo.git("config", "gpg.ssh.program", str(tmp_path / "no-ssh-keygen"))
    verdict = verify(ssh_repo.path, DATA, sig)
    assert verdict.status == "unverifiable"
    assert "no-ssh-keygen" in verdict.detail
    broken = signer(ssh_repo.path)
    assert broken is not None
    with pytest.raises(GitError, match="no-ssh-keygen"):
        broken.sign(DATA)


@needs_ssh
def test_ssh_sign_failure_names_the_program_and_its_message(ssh_repo: GitRepo,
                                                            tmp_path: Path) -> None:
    ssh_repo.git("config", "user.signingKey", str(tmp_path / "missing-key"))
    s = signer(ssh_repo.path)
    assert s is not None
    with pytest.raises(GitError, match=r"ssh-keygen -Y sign .* exited 255: ") as err:
        s.sign(DATA)
    assert "\n" not in err.value.message


# ---------------------------------------------------------------------------
# Without a key, other formats, configuration


def test_no_signing_key_means_unsigned(repo: GitRepo) -> None:
    assert signer(repo.path) is None
    repo.git("config", "gpg.format", "ssh")
    assert signer(repo.path) is None
    repo.git("config", "user.signingKey", "")
    assert signer(repo.path) is None
    assert verify(repo.path, DATA, None) == Verdict("unsigned", None, "no signature")
    assert verify(repo.path, DATA, "").status == "unsigned"


def test_repository_config_wins_over_global(repo: GitRepo, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    global_config = tmp_path / "global.gitconfig"
    global_config.write_text("[user]\n\tsigningKey = GLOBALKEY\n[gpg]\n\tprogram = gpg2\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    assert signer(repo.path) == Signer("openpgp", "GLOBALKEY", "gpg2")
    repo.git("config", "user.signingKey", "LOCALKEY")
    repo.git("config", "gpg.openpgp.program", "/usr/local/bin/gpg")
    assert signer(repo.path) == Signer("openpgp", "LOCALKEY", "/usr/local/bin/gpg")
    # gpg.program and gpg.openpgp.program name the same thing: the last one read wins.
    repo.git("config", "gpg.program", "gpg-local")
    assert signer(repo.path) == Signer("openpgp", "LOCALKEY", "gpg-local")


def test_x509_is_refused_not_silently_unsigned(repo: GitRepo) -> None:
    repo.git("config", "gpg.format", "x509")
    assert signer(repo.path) is None  # no key: unsigned, as ever
    repo.git("config", "user.signingKey", "0xABCDEF")
    with pytest.raises(GitError, match="gpg.format x509 is not supported"):
        signer(repo.path)
    verdict = verify(repo.path, DATA, "-----BEGIN SIGNED MESSAGE-----\nMIAG\n")
    assert verdict.status == "unverifiable"
    assert "x509" in verdict.detail


def test_bad_gpg_format_is_an_error(repo: GitRepo) -> None:
    repo.git("config", "gpg.format", "SSH")
    repo.git("config", "user.signingKey", "k")
    with pytest.raises(GitError, match="gpg.format"):
        signer(repo.path)
    # verify never raises: the configuration problem becomes the verdict.
    verdict = verify(repo.path, DATA, "-----BEGIN SSH SIGNATURE-----\nU1NI\n")
    assert verdict.status == "unverifiable"
    assert "gpg.format" in verdict.detail


def test_unknown_armor_is_invalid(repo: GitRepo) -> None:
    verdict = verify(repo.path, DATA, "not a signature")
    assert verdict.status == "invalid"


# ---------------------------------------------------------------------------
# OpenPGP


def new_gnupghome() -> str:
    # Short and outside $HOME: gpg-agent's socket paths must stay under ~100 chars.
    home = tempfile.mkdtemp(prefix="g", dir="/tmp")
    os.chmod(home, 0o700)
    return home


def stop_gnupg(home: str) -> None:
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": home},
                   capture_output=True, check=False)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def gpg_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh GnuPG home (``GNUPGHOME``) with one passphrase-less ed25519 key; returns
    the key's fingerprint."""
    home = new_gnupghome()
    monkeypatch.setenv("GNUPGHOME", home)
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                        "Ada <ada@example.com>", "ed25519", "sign", "never"],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)
        out = subprocess.run(["gpg", "--list-secret-keys", "--with-colons"], check=True,
                             capture_output=True, text=True).stdout
        fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
        yield fpr
    finally:
        stop_gnupg(home)


@pytest.fixture
def gpg_repo(repo: GitRepo, gpg_key: str) -> GitRepo:
    repo.git("config", "user.signingKey", gpg_key)
    return repo


@needs_gpg
def test_gpg_sign_and_verify(gpg_repo: GitRepo, gpg_key: str) -> None:
    s = signer(gpg_repo.path)
    assert s == Signer("openpgp", gpg_key, "gpg")
    sig = s.sign(DATA)
    assert sig.startswith("-----BEGIN PGP SIGNATURE-----\n")
    assert sig.endswith("-----END PGP SIGNATURE-----\n")
    verdict = verify(gpg_repo.path, DATA, sig)
    assert verdict.status == "valid", verdict
    assert verdict.signer == gpg_key
    assert "Ada <ada@example.com>" in verdict.detail


@needs_gpg
def test_gpg_tampered_data_or_signature_is_invalid(gpg_repo: GitRepo) -> None:
    s = signer(gpg_repo.path)
    assert s is not None
    sig = s.sign(DATA)
    bad = verify(gpg_repo.path, DATA + b" ", sig)
    assert bad.status == "invalid"
    assert "BAD signature" in bad.detail
    for verdict in (verify(gpg_repo.path, DATA, tamper(sig)),
                    verify(gpg_repo.path, DATA, "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n")):
        assert verdict.status == "invalid", verdict
        assert "\n" not in verdict.detail


@needs_gpg
def test_gpg_unknown_public_key_is_unverifiable(gpg_repo: GitRepo, gpg_key: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    s = signer(gpg_repo.path)
    assert s is not None
    sig = s.sign(DATA)
    public = subprocess.run(["gpg", "--export", "--armor", gpg_key], check=True,
                            capture_output=True).stdout
    other = new_gnupghome()
    try:
        with monkeypatch.context() as env:
            env.setenv("GNUPGHOME", other)
            verdict = verify(gpg_repo.path, DATA, sig)
            assert verdict.status == "unverifiable", verdict
            assert verdict.signer == gpg_key[-16:]
            assert "gpg --import" in verdict.detail

            # Imported but not trusted: valid (git's default), unless gpg.minTrustLevel
            # asks for more.
            subprocess.run(["gpg", "--batch", "--import"], input=public, check=True,
                           capture_output=True)
            assert verify(gpg_repo.path, DATA, sig).status == "valid"
            gpg_repo.git("config", "gpg.minTrustLevel", "fully")
            verdict = verify(gpg_repo.path, DATA, sig)
            assert verdict.status == "unverifiable", verdict
            assert "below gpg.minTrustLevel" in verdict.detail
    finally:
        stop_gnupg(other)
    # In its owner's keyring the key has ultimate trust.
    verdict = verify(gpg_repo.path, DATA, sig)
    assert verdict.status == "valid", verdict
    assert verdict.detail.endswith("trust ultimate")


@needs_gpg
def test_gpg_sign_failure_names_the_program_and_its_message(gpg_repo: GitRepo) -> None:
    gpg_repo.git("config", "user.signingKey", "DEADBEEFDEADBEEF")
    s = signer(gpg_repo.path)
    assert s is not None
    with pytest.raises(GitError, match="gpg --status-fd=2 -bsau DEADBEEFDEADBEEF.*No secret key"
                       ) as err:
        s.sign(DATA)
    assert "\n" not in err.value.message


@needs_gpg
def test_gpg_missing_program(gpg_repo: GitRepo, tmp_path: Path) -> None:
    s = signer(gpg_repo.path)
    assert s is not None
    sig = s.sign(DATA)
    gpg_repo.git("config", "gpg.program", str(tmp_path / "no-gpg"))
    verdict = verify(gpg_repo.path, DATA, sig)
    assert verdict.status == "unverifiable"
    assert "no-gpg" in verdict.detail
    broken = signer(gpg_repo.path)
    assert broken is not None
    with pytest.raises(GitError, match="no-gpg"):
        broken.sign(DATA)


@needs_gpg
@needs_ssh
def test_format_comes_from_the_signature_not_the_config(gpg_repo: GitRepo,
                                                        tmp_path: Path) -> None:
    pgp = signer(gpg_repo.path)
    assert pgp is not None
    pgp_sig = pgp.sign(DATA)
    key = make_ssh_key(tmp_path / "key")
    gpg_repo.git("config", "gpg.format", "ssh")
    gpg_repo.git("config", "user.signingKey", str(key))
    ssh = signer(gpg_repo.path)
    assert ssh is not None
    assert verify(gpg_repo.path, DATA, pgp_sig).status == "valid"
    assert verify(gpg_repo.path, DATA, ssh.sign(DATA)).status == "valid"


def signed_commit(repo: GitRepo, s: Signer) -> str:
    """A commit made with pygit2 and signed by ``s``, as the ledger writer does."""
    git = pygit2.Repository(str(repo.path))
    who = pygit2.Signature("Ada Tester", "ada@example.com", 1767700800, 0)
    tree = git.TreeBuilder().write()
    # pygit2's stub says Oid; at run time it is the commit text.
    content: str = git.create_commit_string(  # type: ignore[assignment]
        who, who, "ledger: signed\n", tree, [])
    oid = git.create_commit_with_signature(content, s.sign(content.encode()), "gpgsig")
    return str(oid)


@needs_ssh
def test_ssh_signed_commit_passes_git_verify_commit(ssh_repo: GitRepo, ssh_key: Path,
                                                    tmp_path: Path) -> None:
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'ada@example.com namespaces="git" {Path(f"{ssh_key}.pub").read_text()}')
    ssh_repo.git("config", "gpg.ssh.allowedSignersFile", str(allowed))
    s = signer(ssh_repo.path)
    assert s is not None
    sha = signed_commit(ssh_repo, s)
    proc = ssh_repo.git("verify-commit", "-v", sha)
    assert 'Good "git" signature for ada@example.com' in proc.stderr


@needs_gpg
def test_gpg_signed_commit_passes_git_verify_commit(gpg_repo: GitRepo) -> None:
    s = signer(gpg_repo.path)
    assert s is not None
    sha = signed_commit(gpg_repo, s)
    proc = gpg_repo.git("verify-commit", "--raw", sha)
    assert "[GNUPG:] GOODSIG" in proc.stderr
