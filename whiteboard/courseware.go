package whiteboard

import (
	"bytes"
	"context"
	"image"
	_ "image/gif"  // page images may be GIF,
	_ "image/jpeg" // JPEG
	_ "image/png"  // or PNG
	"io"
	"net/http"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// UploadLimits bound courseware uploads. Zero fields take the defaults in
// parentheses.
type UploadLimits struct {
	MaxBytes       int64         // one uploaded file (50 MiB)
	MaxPDFPages    int           // pages of one PDF (200)
	PageSize       int           // pixels of a rendered PDF page's longer side (1600)
	MaxPageBytes   int64         // one rendered page (10 MiB)
	MaxImageSide   int           // width or height of an uploaded image (8192)
	ConvertTimeout time.Duration // one PDF's conversion; the converter is killed after (2 min)
	Conversions    int           // PDF conversions running at once; more wait (2)
}

func (u *UploadLimits) setDefaults() {
	if u.MaxBytes <= 0 {
		u.MaxBytes = 50 << 20
	}
	if u.MaxPDFPages <= 0 {
		u.MaxPDFPages = 200
	}
	if u.PageSize <= 0 {
		u.PageSize = 1600
	}
	if u.MaxPageBytes <= 0 {
		u.MaxPageBytes = 10 << 20
	}
	if u.MaxImageSide <= 0 {
		u.MaxImageSide = 8192
	}
	if u.ConvertTimeout <= 0 {
		u.ConvertTimeout = 2 * time.Minute
	}
	if u.Conversions <= 0 {
		u.Conversions = 2
	}
}

// Upload is the result of a courseware upload.
type Upload struct {
	ID    string     `json:"upload"` // names its wb.convert.progress events
	Pages []PageInfo `json:"pages"`
	Seq   uint64     `json:"seq"` // of the wb.pages.add event
}

// Upload adds courseware to a board: a PDF (each page rendered to an image,
// with wb.convert.progress events in the board's room while it converts)
// or one image (PNG, JPEG or GIF), recognised by content, not by name.
// The new pages are inserted after page after (nil: at the end; 0: first)
// in one wb.pages.add event. Presenters only.
func (s *Service) Upload(ctx context.Context, id *qun.Identity, bid BoardID, after *uint64, body io.Reader) (*Upload, error) {
	// Check before reading anything.
	b, a, err := s.acquireFor(ctx, id, bid, forRead)
	if err != nil {
		return nil, err
	}
	err = s.canAddPages(b, a, after, 1)
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(body, s.cfg.Upload.MaxBytes+1))
	if err != nil {
		return nil, qun.Errorf(qun.CodeInvalid, "reading the upload failed")
	}
	if int64(len(data)) > s.cfg.Upload.MaxBytes {
		return nil, qun.Errorf(qun.CodeTooLarge, "an upload is at most %d bytes", s.cfg.Upload.MaxBytes)
	}
	up := &Upload{ID: qun.NewID()}
	var imgs []PageImage
	switch ct := http.DetectContentType(data); ct {
	case "application/pdf":
		imgs, err = s.convert(ctx, b, id.User, up.ID, data)
	case "image/png", "image/jpeg", "image/gif":
		var img PageImage
		img, err = s.pageImage(data, ct)
		imgs = []PageImage{img}
	default:
		err = qun.Errorf(qun.CodeInvalid, "courseware must be a PDF or a PNG, JPEG or GIF image, not %s", ct)
	}
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UnixMilli()
	files := make([]*File, len(imgs))
	infos := make([]PageInfo, len(imgs))
	for i, img := range imgs {
		files[i] = &File{Tenant: id.Tenant, Board: bid, ID: qun.NewID(), ContentType: img.ContentType, Width: img.Width, Height: img.Height, Data: img.Data, CreatedAt: now}
		infos[i] = PageInfo{BG: files[i].ID, W: img.Width, H: img.Height}
	}
	if err := s.store.PutFiles(ctx, files); err != nil {
		return nil, err
	}
	b, a, err = s.acquire(ctx, id, bid)
	if err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	if after != nil && *after != 0 && b.m.byID[*after] == nil {
		after = nil // the page went away while converting: append
	}
	ev, err := s.addPages(ctx, b, a, after, infos) // sets infos' ids
	if err != nil {
		return nil, err
	}
	up.Pages, up.Seq = infos, ev.Seq
	return up, nil
}

// canAddPages checks that a may add n pages after page after. b.mu is held.
func (s *Service) canAddPages(b *board, a actor, after *uint64, n int) error {
	if err := a.mustPresent(); err != nil {
		return err
	}
	if after != nil && *after != 0 {
		if _, err := b.page(*after); err != nil {
			return err
		}
	}
	if len(b.m.pages)+n > s.cfg.Limits.PagesPerBoard {
		return qun.Errorf(qun.CodeExhausted, "a board has at most %d pages", s.cfg.Limits.PagesPerBoard)
	}
	return nil
}

func (s *Service) pageImage(data []byte, ct string) (PageImage, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return PageImage{}, qun.Errorf(qun.CodeInvalid, "the image cannot be decoded")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > s.cfg.Upload.MaxImageSide || cfg.Height > s.cfg.Upload.MaxImageSide {
		return PageImage{}, qun.Errorf(qun.CodeTooLarge, "an image is at most %d pixels wide and high", s.cfg.Upload.MaxImageSide)
	}
	return PageImage{Data: data, ContentType: ct, Width: cfg.Width, Height: cfg.Height}, nil
}

type progressData struct {
	Upload string     `json:"upload"`
	Done   int        `json:"done"`
	Total  int        `json:"total"`
	Err    *qun.Error `json:"err,omitempty"`
}

// convert renders a PDF within the conversion limits, broadcasting progress.
func (s *Service) convert(ctx context.Context, b *board, by qun.UserID, upload string, pdf []byte) ([]PageImage, error) {
	select {
	case s.conv <- struct{}{}:
		defer func() { <-s.conv }()
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, qun.ErrClosed
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Upload.ConvertTimeout)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Close kills conversions
	defer stop()
	progress := func(done, total int) {
		s.hubEphemeral(ctx, b, by, progressData{Upload: upload, Done: done, Total: total})
	}
	imgs, err := s.cfg.Converter.Convert(cctx, pdf, ConvertOptions{MaxPages: s.cfg.Upload.MaxPDFPages, PageSize: s.cfg.Upload.PageSize, MaxPageBytes: s.cfg.Upload.MaxPageBytes}, progress)
	if err != nil && cctx.Err() != nil && ctx.Err() == nil {
		if s.ctx.Err() != nil {
			err = qun.ErrClosed
		} else {
			err = qun.Errorf(qun.CodeTooLarge, "converting took longer than %s", s.cfg.Upload.ConvertTimeout)
		}
	}
	if err != nil {
		e := qun.AsError(err)
		if e.Code == qun.CodeInternal {
			s.log.Error("PDF conversion failed", zap.Error(err))
		}
		s.hubEphemeral(context.WithoutCancel(ctx), b, by, progressData{Upload: upload, Err: e})
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, qun.Errorf(qun.CodeInvalid, "the PDF has no pages")
	}
	return imgs, nil
}

// hubEphemeral publishes a progress event without holding b.mu (a
// conversion takes long; the board stays usable meanwhile).
func (s *Service) hubEphemeral(ctx context.Context, b *board, by qun.UserID, d progressData) {
	if err := s.hub.PublishEphemeral(ctx, b.ref, qun.Draft{Type: EvConvertProgress, Actor: by, Data: d}); err != nil {
		s.log.Debug("progress event not sent", zap.Error(err))
	}
}
