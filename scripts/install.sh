#!/usr/bin/env bash
# Installs Airlock on one host: the binaries, the systemd units, the policies, the `airlock` system user and group
# (UID/GID 1001 when free), the `airlock-agents` group, and /etc/airlock with the modes the router expects.
#
#   scripts/install.sh [--prefix /usr/local] [--binary PATH] [--core PATH] [--destdir DIR] [--dry-run] [--no-users]
#   DESTDIR=/tmp/stage scripts/install.sh --prefix /usr          (packaging: same as --destdir)
#
# --binary is the `airlock` front (PREFIX/bin); --core is `airlock-core` (PREFIX/libexec/airlock), by default the
# one next to --binary. Safe to run again: it never overwrites an existing configuration, policy or key; the
# binaries, unit files and reference copies under PREFIX/share/airlock are replaced on every run. With DESTDIR,
# nothing outside DESTDIR is touched: no user is created, nothing is chowned and systemd is not reloaded. The
# sysusers.d file it installs creates the users when the package is installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix=/usr/local
destdir="${DESTDIR:-}"
binary=""
core=""
dry_run=0
manage_users=1
router_id=1001

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --destdir) destdir="${2:?--destdir needs a directory}"; shift 2 ;;
    --destdir=*) destdir="${1#*=}"; shift ;;
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --binary=*) binary="${1#*=}"; shift ;;
    --core) core="${2:?--core needs a path}"; shift 2 ;;
    --core=*) core="${1#*=}"; shift ;;
    --dry-run|-n) dry_run=1; shift ;;
    --no-users) manage_users=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute: $prefix" >&2; exit 2 ;; esac
destdir="${destdir%/}"
[ -n "$destdir" ] && manage_users=0

if [ -z "$binary" ]; then
  for candidate in "$here/.build/release/airlock" "$here/.build/debug/airlock"; do
    [ -x "$candidate" ] && { binary="$candidate"; break; }
  done
fi
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
  echo "install.sh: no airlock binary; build it (swift build -c release --product airlock) or pass --binary" >&2
  exit 1
fi
# `airlock` runs the sandbox itself and hands every other subcommand to airlock-core.
[ -n "$core" ] || core="$(dirname "$binary")/airlock-core"
if [ ! -x "$core" ]; then
  echo "install.sh: no airlock-core at $core; build it (swift build -c release --product airlock-core) or pass --core" >&2
  exit 1
fi

if ((!dry_run)) && ((manage_users)) && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root to create users and set ownership (or use --destdir/--no-users, or --dry-run)" >&2
  exit 1
fi

bindir="$prefix/bin"
libexecdir="$prefix/libexec/airlock"
unitdir="$prefix/lib/systemd/system"
sysusersdir="$prefix/lib/sysusers.d"
sharedir="$prefix/share/airlock"
docdir="$prefix/share/doc/airlock"
etc=/etc/airlock

say() { printf '%s\n' "$*"; }
run() {
  if ((dry_run)); then
    printf 'would run:'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}
# owner root:GROUP where ownership is managed. A staging tree keeps the installing user's ownership, and the
# package's own metadata (or the sysusers/tmpfiles step) sets it.
own() { # own GROUP PATH
  if ((manage_users)); then run chown "root:$1" "$2"; fi
}

dir() { # dir MODE GROUP PATH
  local path="$destdir$3"
  if [ -d "$path" ]; then
    say "kept directory $3"
  else
    run install -d -m "$1" "$path"
  fi
  # The mode and owner are put right on every run: an existing /etc/airlock that others can read is fixed.
  run chmod "$1" "$path"
  own "$2" "$path"
}

file() { # file MODE SOURCE DEST: always replaced (binary, units, reference copies)
  run install -D -m "$1" "$2" "$destdir$3"
}

config() { # config MODE GROUP SOURCE DEST: installed only when absent
  if [ -e "$destdir$4" ]; then
    say "kept existing $4 (the shipped version is in $sharedir)"
  else
    run install -D -m "$1" "$3" "$destdir$4"
    own "$2" "$destdir$4"
  fi
}

ensure_group() { # ensure_group NAME [PREFERRED_GID]
  if getent group "$1" >/dev/null; then
    say "group $1 exists (gid $(getent group "$1" | cut -d: -f3))"
  elif [ -n "${2:-}" ] && ! getent group "$2" >/dev/null; then
    run groupadd --system --gid "$2" "$1"
  else
    run groupadd --system "$1"
  fi
}

ensure_user() { # ensure_user NAME PREFERRED_UID
  if getent passwd "$1" >/dev/null; then
    say "user $1 exists (uid $(id -u "$1"))"
    return
  fi
  local uid_args=()
  getent passwd "$2" >/dev/null || uid_args=(--uid "$2")
  run useradd --system "${uid_args[@]}" --gid "$1" --home-dir /var/lib/airlock --no-create-home \
    --shell /usr/sbin/nologin --comment "Airlock router" "$1"
}

say "installing $binary into ${destdir}${bindir} and $core into ${destdir}${libexecdir} (prefix $prefix${destdir:+, destdir $destdir})"
((dry_run)) && say "dry run: nothing is changed"

if ((manage_users)); then
  ensure_group airlock "$router_id"
  ensure_user airlock "$router_id"
  # Members of airlock-agents may connect to the router's Unix socket (see `group:` in airlock.yaml). Add the
  # agent users to it: usermod -aG airlock-agents AGENT
  ensure_group airlock-agents
else
  say "not creating users or changing ownership (${destdir:+DESTDIR set; }$sysusersdir/airlock.conf creates them)"
fi

# The binaries and the units. The units name /usr/local/bin/airlock; for another prefix, they are rewritten.
# airlock finds airlock-core at ../libexec/airlock/ relative to itself.
file 0755 "$binary" "$bindir/airlock"
file 0755 "$core" "$libexecdir/airlock-core"
for unit in airlock-router.service airlock-sandbox@.service; do
  if [ "$bindir" = /usr/local/bin ]; then
    file 0644 "$here/systemd/$unit" "$unitdir/$unit"
  else
    tmp="$(mktemp)"
    sed "s#/usr/local/bin/airlock#$bindir/airlock#g; s#/usr/local/share/doc/airlock#$docdir#g" \
      "$here/systemd/$unit" >"$tmp"
    file 0644 "$tmp" "$unitdir/$unit"
    rm -f "$tmp"
  fi
done
file 0644 "$here/systemd/airlock.sysusers" "$sysusersdir/airlock.conf"
file 0644 "$here/systemd/airlock-router.service.d/upstreams.conf.example" "$docdir/examples/upstreams.conf.example"

# Reference copies of everything shipped (always current), for diffing against the live config.
file 0644 "$here/policies/airlock.yaml" "$sharedir/policies/airlock.yaml"
shopt -s nullglob
for profile in "$here"/policies/seccomp/*.json; do
  file 0644 "$profile" "$sharedir/seccomp/$(basename "$profile")"
done
for doc in "$here"/docs/operations*.md "$here/docs/receipts.md"; do
  [ -e "$doc" ] && file 0644 "$doc" "$docdir/$(basename "$doc")"
done

# /etc/airlock: root-owned, group airlock, nothing for others. The router (group airlock) reads but never writes
# here. Key files go in keys/ and receipts/ as root:airlock 0640; the router refuses keys that others can read.
dir 0750 airlock "$etc"
dir 0750 airlock "$etc/keys"
dir 0750 airlock "$etc/receipts"
# Sandbox policies are read by the launcher, which runs as root. The router has no business reading them.
dir 0700 root "$etc/sandbox"
dir 0755 root "$etc/seccomp"
config 0640 airlock "$here/policies/airlock.yaml" "$etc/airlock.yaml"
for profile in "$here"/policies/seccomp/*.json; do
  config 0644 root "$profile" "$etc/seccomp/$(basename "$profile")"
done

if [ -z "$destdir" ] && ((!dry_run)) && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

cat <<EOF

Next steps:
  1. Put provider keys in $etc/keys/ (root:airlock, mode 0640) and make a signing key:
       $bindir/airlock receipts keygen --name YOUR.ORIGIN/prod-1 --out $etc/receipts/signing
       chown root:airlock $etc/receipts/signing.key && chmod 0640 $etc/receipts/signing.key
  2. Edit $etc/airlock.yaml and check it:  $bindir/airlock policy check $etc/airlock.yaml
  3. Allow the providers' address ranges:  systemctl edit airlock-router.service
       (example: $docdir/examples/upstreams.conf.example)
  4. systemctl enable --now airlock-router.service
EOF
