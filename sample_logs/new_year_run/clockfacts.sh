#!/bin/sh
# elapsed wall-clock per glog prefix, assuming consecutive dates differ by one day (checked: prints each date change)
awk '
/^[IWEF][0-9][0-9][0-9][0-9]([0-9][0-9][0-9][0-9])? [0-9][0-9]:[0-9][0-9]:[0-9][0-9][.][0-9]+ / {
  date = substr($1, 2); split($2, t, ":"); s = t[1]*3600 + t[2]*60 + t[3]
  if (prevdate != "" && date != prevdate) { day += 1; printf "date change at line %d: %s -> %s (%s)\n", NR, prevdate, date, $2 }
  tt = day*86400 + s
  if (first == "") { first = tt; firstline = NR }
  prevdate = date; last = tt; lastline = NR; n++
}
END { printf "timed lines %d, first line %d, last line %d, elapsed %.6f s\n", n, firstline, lastline, last - first }' "$1"
