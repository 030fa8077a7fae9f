// Command qunlive-load measures live's SFU from outside, as a vendor would:
// N publishers and M viewers as pion clients against a running server,
// each viewer counting lost and late packets, and the server's CPU time per
// forwarded packet read from /proc/<pid>/stat.
//
//	qunlive-load serve -addr 127.0.0.1:8090          # a minimal Hub + live server
//	qunlive-load run -url ws://127.0.0.1:8090/ws -server-pid <pid> -viewers 200
//	qunlive-load run -spawn -viewers 200              # both: starts serve as a child process
//
// The server and the clients share the HS256 secret (-secret) so the load
// tool can issue its own tokens. Against another server (the example apps),
// give it that server's secret and a group the users may start lives in.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "run":
		run(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: qunlive-load serve [flags] | run [flags]   (-h for flags)")
	os.Exit(2)
}

const defaultSecret = "qunlive-load-secret-qunlive-load-secret!"

func secretFlag(fs *flag.FlagSet) *string {
	return fs.String("secret", defaultSecret, "HS256 token secret shared by server and load tool (≥ 32 bytes)")
}
