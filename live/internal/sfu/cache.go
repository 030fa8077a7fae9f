package sfu

import "sync"

// cacheSize is how many packets a track layer keeps for retransmission:
// about 2 s of 1.5 Mbit/s video, longer than any NACK worth answering.
const cacheSize = 512

// maxPacket bounds one cached RTP packet; larger ones are not cached.
const maxPacket = 1500

// packetCache keeps the last cacheSize packets of one layer, indexed by
// sequence number, so NACKs from any viewer are answered without asking the
// publisher. One goroutine (the layer's reader) writes; retransmissions
// read under the lock.
type packetCache struct {
	mu    sync.Mutex
	buf   [cacheSize][maxPacket]byte
	size  [cacheSize]uint16
	seq   [cacheSize]uint16
	valid [cacheSize]bool
}

// put stores a copy of pkt as the packet with sequence number seq.
func (c *packetCache) put(seq uint16, pkt []byte) {
	if len(pkt) > maxPacket {
		return
	}
	i := seq % cacheSize
	c.mu.Lock()
	c.size[i] = uint16(copy(c.buf[i][:], pkt))
	c.seq[i] = seq
	c.valid[i] = true
	c.mu.Unlock()
}

// get copies the packet with sequence number seq into dst and returns it,
// or nil if it is no longer (or never was) cached.
func (c *packetCache) get(seq uint16, dst []byte) []byte {
	i := seq % cacheSize
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid[i] || c.seq[i] != seq {
		return nil
	}
	return append(dst[:0], c.buf[i][:c.size[i]]...)
}
