#!/bin/sh
# dirstore.sh: an executable cavorite-py store plugin in POSIX sh, keeping objects in a directory.
#
# It speaks version 1 of the plugin protocol (docs/plugins.md) with the shell's own string
# handling plus cat-level tools (cp, ln, mv, rm, mkdir, rmdir, wc), and keeps the same layout
# as dirstore.py, so either can read what the other wrote:
#
#   objects/<key>   the object's bytes
#   sha256/<key>    the sha256 cavorite measured, recorded as given (a store never hashes)
#   tmp/            files being written
#
# It reads the compact JSON cavorite-py sends (no spaces, options last) rather than any JSON:
# enough for an example, and for keys with spaces, quotes, backslashes or non-ASCII letters.
# Keys with control characters are refused.

set -u

# Requests arrive on fd 3, answers leave on fd 4; the commands run below see neither (their
# stdin is /dev/null, their stdout goes to stderr, which cavorite logs).
exec 3<&0 4>&1 </dev/null 1>&2

BS=$(printf '\001')  # stands for an escaped backslash while a line is taken apart
QT=$(printf '\002')  # stands for an escaped double quote
dir=
n=0

# replace_all STRING FROM TO: REPLY is STRING with every FROM replaced by TO.
replace_all() {
    _s=$1 _r=
    while :; do
        case $_s in
            *"$2"*) _r=$_r${_s%%"$2"*}$3 _s=${_s#*"$2"} ;;
            *) REPLY=$_r$_s; return 0 ;;
        esac
    done
}

# field NAME: REPLY is the value of "NAME" in $line: a string unescaped, or a bare scalar.
# Fails if the field is absent or holds an escape other than \\ and \".
field() {
    case $line in *"\"$1\":"*) ;; *) return 1 ;; esac
    _v=${line#*"\"$1\":"}
    case $_v in
        \"*)
            _v=${_v#\"} _v=${_v%%\"*}
            case $_v in *\\*) return 1 ;; esac
            replace_all "$_v" "$QT" '"'
            replace_all "$REPLY" "$BS" '\' ;;
        *) REPLY=${_v%%[,\}]*} ;;
    esac
}

# json_str VALUE: REPLY is VALUE as a JSON string.
json_str() {
    replace_all "$1" '\' '\\'
    replace_all "$REPLY" '"' '\"'
    REPLY="\"$REPLY\""
}

ok() { printf '{"id":%s,"ok":true%s}\n' "$id" "$1" >&4; }

fail() {
    json_str "$2"
    printf '{"id":%s,"ok":false,"error":"%s","message":%s}\n' "$id" "$1" "$REPLY" >&4
}

# key_paths: set key, obj and side from the request, or answer an error and fail.
key_paths() {
    if ! field key; then fail other "request without a usable key"; return 1; fi
    key=$REPLY
    case /$key/ in
        *//* | */./* | */../* | *[[:cntrl:]]*) fail other "refusing unsafe key $key"; return 1 ;;
    esac
    obj=$dir/objects/$key side=$dir/sha256/$key
}

remove_empty_parents() {  # FILE TOP
    _p=${1%/*}
    while [ "$_p" != "$2" ] && rmdir "$_p" 2>/dev/null; do _p=${_p%/*}; done
}

do_hello() {
    field backend_address || REPLY=
    case $REPLY in file://*) REPLY=${REPLY#file://} ;; esac
    case $REPLY in
        "") fail other "dirstore.sh needs backend_address: the directory for objects"; return ;;
        *%*) fail other "dirstore.sh takes a plain path, not a %-encoded URL: $REPLY"; return ;;
        /*) dir=$REPLY ;;
        *) _a=$REPLY; field root || REPLY=.; dir=$REPLY/$_a ;;
    esac
    if ! mkdir -p "$dir/objects" "$dir/sha256" "$dir/tmp"; then
        fail unavailable "cannot create $dir"; return
    fi
    ok ',"protocol":1,"name":"dirstore.sh","version":"1.0","capabilities":["sha256"]'
}

do_put() {
    key_paths || return
    field path || { fail other "put without a path"; return; }
    src=$REPLY
    field overwrite || REPLY=false
    overwrite=$REPLY
    if [ "$overwrite" != true ] && [ -e "$obj" ]; then fail exists "object $key already exists"; return; fi
    if [ -d "$obj" ]; then fail other "key $key names a directory of keys"; return; fi
    n=$((n + 1))
    tmp=$dir/tmp/put.$$.$n
    if ! mkdir -p "${obj%/*}" || ! cp "$src" "$tmp"; then
        rm -f "$tmp"; fail other "cannot copy $src into $dir"; return
    fi
    if [ "$overwrite" = true ]; then
        rm -f "$side"
        if ! mv -f "$tmp" "$obj"; then rm -f "$tmp"; fail other "cannot write $obj"; return; fi
    elif ! ln "$tmp" "$obj" 2>/dev/null; then
        rm -f "$tmp"
        if [ -e "$obj" ]; then fail exists "object $key already exists"; else fail other "cannot write $obj"; fi
        return
    else
        rm -f "$tmp"
    fi
    if field sha256 && [ "$REPLY" != null ] && mkdir -p "${side%/*}"; then
        printf '%s\n' "$REPLY" >"$tmp" && mv -f "$tmp" "$side"
    fi
    ok ""
}

do_get() {
    key_paths || return
    field path || { fail other "get without a path"; return; }
    [ -f "$obj" ] || { fail not_found "object $key is not in $dir"; return; }
    cp "$obj" "$REPLY" || { fail other "cannot copy $obj to $REPLY"; return; }
    ok ""
}

do_stat() {
    key_paths || return
    [ -f "$obj" ] || { ok ',"found":false'; return; }
    size=$(($(wc -c <"$obj")))
    sha=null
    if [ -f "$side" ] && IFS= read -r _h <"$side"; then
        case $_h in *[!0-9a-f]*) ;; *) [ ${#_h} -eq 64 ] && sha="\"$_h\"" ;; esac
    fi
    ok ",\"found\":true,\"size\":$size,\"sha256\":$sha"
}

# walk DIRECTORY KEYPREFIX: print the keys under DIRECTORY that start with $prefix, one a line.
walk() {
    for _f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        [ -e "$_f" ] || continue
        _k=$2${_f##*/}
        case $_k in *[[:cntrl:]]*) continue ;; esac
        if [ -d "$_f" ]; then
            case $_k/ in "$prefix"*) (walk "$_f" "$_k/") ;; *)
                case $prefix in "$_k/"*) (walk "$_f" "$_k/") ;; esac ;;
            esac
        else
            case $_k in "$prefix"*) printf '%s\n' "$_k" ;; esac
        fi
    done
}

# pack: read keys, one a line, and answer them in chunks of 1000.
pack() {
    _keys= _count=0
    while IFS= read -r _k; do
        json_str "$_k"
        _keys=${_keys:+$_keys,}$REPLY _count=$((_count + 1))
        if [ $_count -eq 1000 ]; then
            ok ",\"keys\":[$_keys],\"more\":true"
            _keys= _count=0
        fi
    done
    ok ",\"keys\":[$_keys],\"more\":false"
}

do_list() {
    field prefix || REPLY=
    prefix=$REPLY
    walk "$dir/objects" "" | pack
}

do_delete() {
    key_paths || return
    [ -f "$obj" ] || { fail not_found "object $key is not in $dir"; return; }
    rm -f "$side"
    rm -f "$obj" || { fail other "cannot remove $obj"; return; }
    remove_empty_parents "$obj" "$dir/objects"
    remove_empty_parents "$side" "$dir/sha256"
    ok ""
}

while IFS= read -r line <&3 || [ -n "$line" ]; do
    replace_all "$line" '\\' "$BS"
    replace_all "$REPLY" '\"' "$QT"
    line=$REPLY
    field id || REPLY=null
    id=$REPLY
    field op || REPLY=
    case $REPLY in
        hello) do_hello ;;
        close) ok ""; exit 0 ;;
        put | get | stat | list | delete)
            if [ -z "$dir" ]; then fail other "$REPLY before hello"; else "do_$REPLY"; fi ;;
        *) fail other "unknown op $REPLY" ;;
    esac
    line=
done
exit 0
