package chat

import (
	"context"
	"sync"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Portrait (用户画像) summarises a group's members from the vendor's
// profile data and chat's own activity records.
type Portrait struct {
	Members int `json:"members"`
	// Gender counts members by gender; Unknown has no profile gender.
	Male    int `json:"male"`
	Female  int `json:"female"`
	Unknown int `json:"unknown"`
	// MaleRatio is Male / (Male + Female); 0 when neither is known.
	MaleRatio float64 `json:"male_ratio"`
	// AverageAge is over the members with a birth year (AgeKnown of them).
	AverageAge float64 `json:"average_age"`
	AgeKnown   int     `json:"age_known"`
	// Active24h and Active7d count members who sent a message or checked
	// in within that time (to ActivityResolution).
	Active24h int `json:"active_24h"`
	Active7d  int `json:"active_7d"`
}

// ActivityResolution is how precisely chat records member activity: a
// member's activity is written at most once per this period, so that
// sending messages does not cost a store write each.
const ActivityResolution = 5 * time.Minute

// Portrait computes a group's portrait (admins and owner).
func (s *Service) Portrait(ctx context.Context, id *qun.Identity, in GroupRef) (*Portrait, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	p := &Portrait{}
	now := s.now()
	year := now.In(s.cfg.Location).Year()
	ageSum := 0
	err := s.read(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access) (err error) {
		if p.Active24h, err = tx.CountActive(in.Group, now.Add(-24*time.Hour).UnixMilli()); err != nil {
			return err
		}
		if p.Active7d, err = tx.CountActive(in.Group, now.Add(-7*24*time.Hour).UnixMilli()); err != nil {
			return err
		}
		// Profiles are fetched a page of members at a time; the member
		// limit bounds the pages.
		for after := qun.UserID(""); ; {
			ms, err := tx.Members(in.Group, MemberQuery{After: after, Limit: 500})
			if err != nil {
				return err
			}
			if len(ms) == 0 {
				return nil
			}
			after = ms[len(ms)-1].User
			users := make([]qun.UserID, len(ms))
			for i, m := range ms {
				users[i] = m.User
			}
			profiles := map[qun.UserID]Profile{}
			if s.cfg.Profiles != nil {
				if profiles, err = s.cfg.Profiles.Profiles(ctx, id.Tenant, users); err != nil {
					s.log.Error("chat: profiles failed", zap.Error(err))
					return qun.Errorf(qun.CodeUnavailable, "member profiles are unavailable")
				}
			}
			for _, u := range users {
				pr := profiles[u]
				p.Members++
				switch pr.Gender {
				case GenderMale:
					p.Male++
				case GenderFemale:
					p.Female++
				default:
					p.Unknown++
				}
				if pr.BirthYear > 1900 && pr.BirthYear <= year {
					p.AgeKnown++
					ageSum += year - pr.BirthYear
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if p.Male+p.Female > 0 {
		p.MaleRatio = float64(p.Male) / float64(p.Male+p.Female)
	}
	if p.AgeKnown > 0 {
		p.AverageAge = float64(ageSum) / float64(p.AgeKnown)
	}
	return p, nil
}

// activity remembers when each member's activity was last written, so
// that touch writes at most once per ActivityResolution.
type activity struct {
	mu   sync.Mutex
	last map[slowKey]int64
}

func newActivity() *activity { return &activity{last: map[slowKey]int64{}} }

// touch records that user was active in group now. Failures are logged:
// activity feeds statistics only.
func (s *Service) touch(ctx context.Context, tenant qun.TenantID, group qun.RoomID, user qun.UserID) {
	now := s.nowMS()
	k := slowKey{qun.RoomRef{Tenant: tenant, Room: group}, user}
	s.activity.mu.Lock()
	if t, ok := s.activity.last[k]; ok && now-t < ActivityResolution.Milliseconds() {
		s.activity.mu.Unlock()
		return
	}
	if len(s.activity.last) >= maxTracked {
		clear(s.activity.last)
	}
	s.activity.last[k] = now
	s.activity.mu.Unlock()
	err := s.store.Update(ctx, tenant, func(tx Tx) error {
		m, err := tx.Member(group, user)
		if err != nil {
			return err
		}
		m.LastActive = now
		return tx.UpdateMember(group, m)
	})
	if err != nil && !isNotFound(err) {
		s.log.Warn("chat: recording activity failed", zap.Error(err))
	}
}
