// Package qload generates load against a qun Hub, for cmd/qunload and the
// root package's benchmarks: N subscribers on one room that count what they
// receive without decoding it, publishers that send 200-byte messages
// through an op at a target rate, and the tiny server side of that op.
//
// Each message's text starts with its send time (Unix nanoseconds), so a
// subscriber on the same machine measures publish-to-receive latency from
// the payload alone.
package qload
