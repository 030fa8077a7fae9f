package chat_test

import (
	"fmt"
	"testing"

	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
)

// BenchmarkSend measures one message end to end over real WebSockets: the
// chat.send op is reviewed and checked, appended durably to the SQLite room
// log (WAL, synchronous=FULL), acknowledged, and received by every
// subscriber. One op at a time: this is the latency a sender sees.
func BenchmarkSend(b *testing.B) {
	for _, subs := range []int{1, 100} {
		b.Run(fmt.Sprint("subscribers=", subs), func(b *testing.B) {
			e := newEnv(b, func(c *chat.Config) { c.SendRate, c.SendBurst = 1e9, 1<<30 })
			ann := e.owner(b, "t1", "ann")
			g := createGroup(b, ann, "Bench", obj{"member_limit": 1000})
			watchers := make([]*qclient.Client, subs)
			for i := range watchers {
				watchers[i] = e.Connect(b, "t1", fmt.Sprint("w", i))
				join(b, ann, watchers[i], g)
				sub(b, watchers[i], g)
			}
			msg := obj{"group": g, "kind": "text", "text": "a 200-byte message: " + string(make([]byte, 0, 180)) + "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation"}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var res chat.Sent
				qtest.Call(b, ann, "chat.send", msg, &res)
				for _, w := range watchers {
					for {
						f := <-w.Frames()
						if f.Seq == res.Seq {
							break
						}
					}
				}
			}
		})
	}
}
