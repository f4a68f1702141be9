#!/bin/sh
# clockat.sh LOG LINE...: seconds since the first timed line (FROM=N: since line N) at each LINE
# (a change of date is taken as the next day)
f=$1; shift
awk -v want="$*" -v from="${FROM:-1}" '
BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[w[i]] = 1 }
/^[IWEF][0-9][0-9][0-9][0-9]([0-9][0-9][0-9][0-9])? [0-9][0-9]:[0-9][0-9]:[0-9][0-9][.][0-9]+ / {
  date = substr($1, 2); split($2, t, ":"); s = t[1]*3600 + t[2]*60 + t[3]
  if (prevdate != "" && date != prevdate) day += 1
  tt = day*86400 + s; if (first == "" && NR >= from) first = tt; prevdate = date
  if (NR in wanted) printf "line %d: %.6f s\n", NR, tt - first
}' "$f"
