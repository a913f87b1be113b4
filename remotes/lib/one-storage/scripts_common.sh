# one-storage scripts_common.sh: oned's log/error protocol for operators' own
# shell hooks. Source it from bash:  . /var/lib/one/remotes/lib/one-storage/scripts_common.sh
#
# Log lines go to stderr as "INFO: <script>: msg" / "ERROR: ..." / "DEBUG: ...";
# the failure reason is ONE plain stderr line (error_message); results go to stdout.
# Unlike the reference helpers, commands are run as argument vectors (no word
# splitting, no globbing) and remote commands are quoted word by word.

export LANG=C
export LC_ALL=C
SCRIPT_NAME=$(basename -- "$0")
SSH=${SSH:-ssh}

# log MSG...: an INFO line. Multi-line messages are folded onto one line so
# that no continuation line leaks into oned's FAILURE text.
_one_log() {
    local sev=$1; shift
    printf '%s: %s: %s\n' "$sev" "$SCRIPT_NAME" "$(printf '%s' "$*" | tr '\n' ' ')" >&2
}
log()       { _one_log INFO "$@"; }
log_info()  { _one_log INFO "$@"; }
log_error() { _one_log ERROR "$@"; }
log_debug() { _one_log DEBUG "$@"; }

# error_message MSG: the one plain line oned keeps as the failure reason.
error_message() {
    printf '%s\n' "$(printf '%s' "$*" | tr '\n' ' ')" >&2
}

# _one_quote WORD...: each word single-quoted for a POSIX shell.
_one_quote() {
    local out="" w
    for w in "$@"; do
        out="$out '${w//\'/\'\\\'\'}'"
    done
    printf '%s' "${out# }"
}

# exec_and_log MSG CMD [ARG...]: runs CMD with its arguments as given (no shell).
# On failure: an ERROR line with the command and its stderr, MSG as the
# reason, and exit with the command's status (never 42).
exec_and_log() {
    local msg=$1; shift
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ]; then
        log_error "Command $(_one_quote "$@") failed (exit $rc): $err"
        error_message "${msg:-Error executing $1}"
        [ $rc -eq 42 ] && rc=1
        exit $rc
    fi
}

# ssh_exec_and_log HOST MSG CMD [ARG...]: the same on HOST over ssh; every
# argument is quoted, so paths with spaces or quotes arrive intact.
ssh_exec_and_log() {
    local host=$1 msg=$2; shift 2
    case "$host" in -*|"") error_message "Invalid host name '$host'"; exit 1 ;; esac
    local err rc
    err=$($SSH -o BatchMode=yes -- "$host" "$(_one_quote "$@")" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ]; then
        log_error "Command $(_one_quote "$@") failed on $host (exit $rc): $err"
        error_message "${msg:-Error executing $1 on $host}"
        [ $rc -eq 42 ] && rc=1
        exit $rc
    fi
}

# arg_host HOST:PATH -> HOST (IPv6 literals as [addr]:path)
arg_host() {
    case "$1" in
        \[*\]:*) local h=${1%%]:*}; printf '%s\n' "${h#[}" ;;
        *:*)     printf '%s\n' "${1%%:*}" ;;
        *)       printf '%s\n' "$1" ;;
    esac
}

# arg_path HOST:PATH -> PATH with repeated and trailing slashes removed
arg_path() {
    local p
    case "$1" in
        \[*\]:*) p=${1#*]:} ;;
        *:*)     p=${1#*:} ;;
        *)       p=$1 ;;
    esac
    p=$(printf '%s' "$p" | tr -s '/')
    [ "$p" != "/" ] && p=${p%/}
    printf '%s\n' "$p"
}
