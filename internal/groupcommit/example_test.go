package groupcommit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/qunkit/qun/internal/groupcommit"
)

func Example() {
	var log []string // written only by the writer
	q := groupcommit.New(groupcommit.Config[string]{
		MaxBatch: 100,
		Commit: func(batch []string, errs []error) {
			// One transaction for the whole batch; here, refuse empty lines.
			for i, line := range batch {
				if strings.TrimSpace(line) == "" {
					errs[i] = errors.New("empty line")
					continue
				}
				log = append(log, line)
			}
		},
	})
	ctx := context.Background()
	fmt.Println(q.Do(ctx, "hello"))
	fmt.Println(q.Do(ctx, " "))
	fmt.Println(q.Close())
	fmt.Println(q.Do(ctx, "late"))
	fmt.Println(log)
	// Output:
	// <nil>
	// empty line
	// <nil>
	// groupcommit: closed
	// [hello]
}
