# one bar of '#' per 2 units of sales
{ bar = ""; for (i = 0; i < $2 / 2; i++) bar = bar "#"; printf "%-6s %4d %s\n", $1, $2, bar }
