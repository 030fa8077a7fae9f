package main

import (
	"context"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/live"
)

// chatReview adapts chat's Reviewer to live's Q&A review hook (live does
// not import chat), so questions and answers keep off-platform contact
// details out just as the class chat does.
func chatReview(r chat.Reviewer) live.ReviewFunc {
	return func(ctx context.Context, id *qun.Identity, text string) (string, error) {
		v, err := r.Review(ctx, &chat.ReviewRequest{Tenant: id.Tenant, User: id.User, Content: &chat.Content{Kind: chat.KindText, Text: text}})
		if err != nil {
			return "", err
		}
		switch v.Action {
		case chat.Reject:
			return "", qun.Errorf(qun.CodeRejected, "%s", v.Reason)
		case chat.Mask:
			return v.Text, nil
		}
		return text, nil
	}
}
