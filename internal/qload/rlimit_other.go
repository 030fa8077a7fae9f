//go:build !unix

package qload

import "time"

// RaiseFileLimit does nothing where there is no RLIMIT_NOFILE.
func RaiseFileLimit() (uint64, error) { return 0, nil }

// CPUTime is not measured here.
func CPUTime() time.Duration { return 0 }
