# bash completion for tendctl(1): commands, their options, signal names,
# and the task names of the running tendd (from `tendctl status --json`,
# read with sed: no python). Installed as
# $(PREFIX)/share/bash-completion/completions/tendctl; works without the
# bash-completion package too (source it).

# The task names that the tendd behind the command line's socket reports.
_tendctl_tasks()
{
	local -a ctl=("${COMP_WORDS[0]}")
	local i
	for ((i = 1; i < COMP_CWORD; i++)); do
		if [[ ${COMP_WORDS[i]} == -s ]]; then
			ctl+=(-s "${COMP_WORDS[i + 1]}")
			break
		fi
	done
	# Names match [A-Za-z0-9_.-]+: nothing in them needs unescaping.
	# A tendd that does not answer (stopped, say) must not hang the shell.
	timeout 1 "${ctl[@]}" status --json 2>/dev/null |
		sed -n 's/"name": *"\([A-Za-z0-9_.-]*\)"/\n\1\n/gp' |
		sed -n '/^[A-Za-z0-9_.-]\{1,64\}$/p'
}

_tendctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="status start stop restart signal run reload log metrics
		shutdown"
	local cmd="" i nargs=0

	COMPREPLY=()
	# Options come before the command; -s takes a path, log's -n a number.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s) [[ -z $cmd ]] && ((i++)) ;;
		-n) [[ $cmd == log ]] && ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${COMP_WORDS[i]}
			elif [[ ${COMP_WORDS[i]} != -* ]]; then
				((nargs++))
			fi
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $prev == -s ]]; then
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur"))
		elif [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-s -h --help -V --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return 0
	fi

	case $cmd in
	status)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--json" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_tendctl_tasks)" -- "$cur"))
		fi
		;;
	start | stop | restart)
		COMPREPLY=($(compgen -W "all $(_tendctl_tasks)" -- "$cur"))
		;;
	signal)
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -W "HUP INT QUIT KILL USR1 USR2 TERM
				CONT STOP TSTP ALRM WINCH" -- "${cur#SIG}"))
		else
			COMPREPLY=($(compgen -W "all $(_tendctl_tasks)" -- "$cur"))
		fi
		;;
	run)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--wait" -- "$cur"))
		elif ((nargs == 0)); then
			COMPREPLY=($(compgen -W "$(_tendctl_tasks)" -- "$cur"))
		fi
		;;
	log)
		if [[ $prev == -n ]]; then
			return 0 # a number of lines
		elif [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-n -f" -- "$cur"))
		elif ((nargs == 0)); then
			COMPREPLY=($(compgen -W "$(_tendctl_tasks)" -- "$cur"))
		fi
		;;
	reload)
		COMPREPLY=($(compgen -W "--dry-run" -- "$cur"))
		;;
	esac
	return 0
}

complete -F _tendctl tendctl
