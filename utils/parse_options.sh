#!/usr/bin/env bash
# Sourced by recipe scripts after their option variables are defined:
#
#   stage=1        # comment
#   . utils/parse_options.sh
#
# Every "--name value" (or "--name=value"; dashes and underscores in name are the
# same) sets the shell variable "name", which must already exist: an unknown option
# is an error. "--config file" sources a file of assignments first. "--help" or
# "-h" prints $help_message and exits 0. A variable whose value is true or false
# only accepts true or false. Positional arguments after the options are kept in $@.

__po_error() { echo "$0: parse_options.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h)
            if [ -n "${help_message:-}" ]; then printf '%s\n' "${help_message}"; else echo "No help found." >&2; fi
            exit 0 ;;
        --config)
            [ $# -ge 2 ] || __po_error "option --config needs a file"
            [ -f "$2" ] || __po_error "config file '$2' not found"
            # shellcheck disable=SC1090
            . "$2"
            shift 2 ;;
        --?*)
            __po_arg=${1#--}
            if [[ "${__po_arg}" == *=* ]]; then
                __po_value=${__po_arg#*=}; __po_arg=${__po_arg%%=*}; shift
            else
                [ $# -ge 2 ] || __po_error "option $1 needs a value"
                __po_value=$2; shift 2
            fi
            __po_name=${__po_arg//-/_}
            [[ "${__po_name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || __po_error "invalid option --${__po_arg}"
            if ! declare -p "${__po_name}" >/dev/null 2>&1; then
                __po_error "invalid option --${__po_arg}"
            fi
            __po_old=${!__po_name}
            if [ "${__po_old}" = true ] || [ "${__po_old}" = false ]; then
                if [ "${__po_value}" != true ] && [ "${__po_value}" != false ]; then
                    __po_error "option --${__po_arg} takes true or false, got '${__po_value}'"
                fi
            fi
            printf -v "${__po_name}" '%s' "${__po_value}" ;;
        *) break ;;
    esac
done
unset __po_arg __po_value __po_name __po_old
true
