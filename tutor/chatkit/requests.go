package chatkit

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
)

// The requests answered with JSON: reading, renaming and deleting
// threads, and feedback on answers.

func (h *Handler) getThread(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p protocol.ThreadGetByIDParams
	if err := protocol.DecodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := protocol.RequireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	t, err := h.cfg.Threads.Thread(ctx, c.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	items, err := h.cfg.Threads.Items(ctx, c.ID, t.ID, tutor.PageRequest{Limit: protocol.DefaultPageSize, Order: tutor.Asc})
	if err != nil {
		return nil, err
	}
	return protocol.ThreadOf(t, protocol.ItemsPage(items)), nil
}

func (h *Handler) listThreads(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p protocol.ListParams
	if err := protocol.DecodeParams(raw, &p); err != nil {
		return nil, err
	}
	pr, err := p.PageRequest(h.cfg.MaxPageSize)
	if err != nil {
		return nil, err
	}
	threads, err := h.cfg.Threads.Threads(ctx, c.ID, pr)
	if err != nil {
		return nil, err
	}
	out := protocol.Page[protocol.Thread]{Data: make([]protocol.Thread, len(threads.Data)), HasMore: threads.HasMore}
	for i, t := range threads.Data {
		out.Data[i] = protocol.ThreadOf(t, protocol.Page[json.RawMessage]{})
	}
	if n := len(threads.Data); n > 0 {
		out.After = &threads.Data[n-1].ID
	}
	return out, nil
}

func (h *Handler) listItems(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p protocol.ListParams
	if err := protocol.DecodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := protocol.RequireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	pr, err := p.PageRequest(h.cfg.MaxPageSize)
	if err != nil {
		return nil, err
	}
	items, err := h.cfg.Threads.Items(ctx, c.ID, p.ThreadID, pr)
	if err != nil {
		return nil, err
	}
	return protocol.ItemsPage(items), nil
}

const maxTitleBytes = 200

func (h *Handler) updateThread(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p protocol.ThreadUpdateParams
	if err := protocol.DecodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := protocol.RequireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	if p.Title == nil {
		return nil, tutor.Errorf(tutor.EINVALID, "params.title is required")
	}
	title := strings.TrimSpace(*p.Title)
	if len(title) > maxTitleBytes {
		return nil, tutor.Errorf(tutor.EINVALID, "params.title is longer than %d bytes", maxTitleBytes)
	}
	t, err := h.cfg.Threads.UpdateTitle(ctx, c.ID, p.ThreadID, title)
	if err != nil {
		return nil, err
	}
	return protocol.ThreadOf(t, protocol.Page[json.RawMessage]{}), nil
}

func (h *Handler) deleteThread(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p protocol.ThreadDeleteParams
	if err := protocol.DecodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := protocol.RequireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	if err := h.cfg.Threads.DeleteThread(ctx, c.ID, p.ThreadID); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

const maxFeedbackItems = 50

func (h *Handler) feedback(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p protocol.ItemFeedbackParams
	if err := protocol.DecodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := protocol.RequireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	if p.Kind != tutor.FeedbackPositive && p.Kind != tutor.FeedbackNegative {
		return nil, tutor.Errorf(tutor.EINVALID, "params.kind must be positive or negative")
	}
	if len(p.ItemIDs) == 0 || len(p.ItemIDs) > maxFeedbackItems {
		return nil, tutor.Errorf(tutor.EINVALID, "params.item_ids must name 1 to %d items", maxFeedbackItems)
	}
	t, err := h.cfg.Threads.Thread(ctx, c.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	fb := make([]tutor.Feedback, 0, len(p.ItemIDs))
	for _, id := range p.ItemIDs {
		if err := protocol.RequireID("item_ids[]", id); err != nil {
			return nil, err
		}
		it, err := h.cfg.Threads.Item(ctx, c.ID, t.ID, id)
		if err != nil {
			return nil, err
		}
		if it.Type != tutor.ItemAssistantMessage {
			return nil, tutor.Errorf(tutor.EINVALID, "item %q is not an answer; feedback is for the tutor's answers", id)
		}
		fb = append(fb, tutor.Feedback{UserID: c.ID, ThreadID: t.ID, ItemID: id, Kind: p.Kind, Course: t.Course, Sources: it.Sources})
	}
	if err := h.cfg.Reports.SaveFeedback(ctx, fb); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
