out=$("$1" hello)
[ "$out" = "tool: hello" ] && echo "ok 1 - greets" || { echo "not ok 1"; exit 1; }
