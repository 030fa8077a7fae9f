package whiteboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/png" // decodes rendered pages' sizes
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/qunkit/qun"
)

// Converter renders a PDF's pages to images for courseware. Convert calls
// progress(0, total) once it knows the page count and progress(i, total)
// after page i, and stops when ctx ends. It returns *qun.Error for
// documents it refuses (CodeInvalid: unreadable; CodeTooLarge: over a limit).
type Converter interface {
	Convert(ctx context.Context, pdf []byte, opt ConvertOptions, progress func(done, total int)) ([]PageImage, error)
}

// ConvertOptions bound one conversion.
type ConvertOptions struct {
	MaxPages     int   // more pages: CodeTooLarge before rendering any
	PageSize     int   // pixels of each rendered page's longer side
	MaxPageBytes int64 // a larger rendered page: CodeTooLarge
}

// PageImage is one rendered page.
type PageImage struct {
	Data          []byte
	ContentType   string
	Width, Height int
}

// Poppler is the default Converter: poppler-utils' pdfinfo counts the pages
// and pdftoppm renders each to PNG, one process per page, so that progress
// is reported and each process is killed when ctx ends (the Service bounds
// a conversion by UploadLimits.ConvertTimeout). Install it with
// `apt-get install poppler-utils`.
type Poppler struct {
	// PdfToPPM and PdfInfo are the commands; "" means "pdftoppm" and
	// "pdfinfo" on PATH.
	PdfToPPM, PdfInfo string
	// TempDir holds each conversion's working directory, removed after;
	// "" means os.TempDir().
	TempDir string
}

var pagesLine = regexp.MustCompile(`(?m)^Pages:\s+(\d+)`)

// Convert implements Converter.
func (p Poppler) Convert(ctx context.Context, pdf []byte, opt ConvertOptions, progress func(done, total int)) ([]PageImage, error) {
	dir, err := os.MkdirTemp(p.TempDir, "qun-wb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		return nil, err
	}
	info, err := run(ctx, cmdOr(p.PdfInfo, "pdfinfo"), in)
	if err != nil {
		return nil, err
	}
	m := pagesLine.FindSubmatch(info)
	if m == nil {
		return nil, qun.Errorf(qun.CodeInvalid, "not a readable PDF")
	}
	total, _ := strconv.Atoi(string(m[1]))
	if total < 1 {
		return nil, qun.Errorf(qun.CodeInvalid, "the PDF has no pages")
	}
	if opt.MaxPages > 0 && total > opt.MaxPages {
		return nil, qun.Errorf(qun.CodeTooLarge, "the PDF has %d pages; at most %d are accepted", total, opt.MaxPages)
	}
	progress(0, total)
	out := make([]PageImage, 0, total)
	prefix := filepath.Join(dir, "page")
	for i := 1; i <= total; i++ {
		n := strconv.Itoa(i)
		if _, err := run(ctx, cmdOr(p.PdfToPPM, "pdftoppm"), "-f", n, "-l", n, "-png", "-scale-to", strconv.Itoa(opt.PageSize), "-singlefile", in, prefix); err != nil {
			return nil, err
		}
		img, err := readPage(prefix+".png", opt.MaxPageBytes)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i, err)
		}
		out = append(out, img)
		progress(i, total)
	}
	return out, nil
}

func cmdOr(cmd, def string) string {
	if cmd == "" {
		return def
	}
	return cmd
}

func readPage(path string, maxBytes int64) (PageImage, error) {
	st, err := os.Stat(path)
	if err != nil {
		return PageImage{}, qun.Errorf(qun.CodeInvalid, "a page could not be rendered")
	}
	if maxBytes > 0 && st.Size() > maxBytes {
		return PageImage{}, qun.Errorf(qun.CodeTooLarge, "a rendered page exceeds %d bytes", maxBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return PageImage{}, err
	}
	_ = os.Remove(path)
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return PageImage{}, qun.Errorf(qun.CodeInvalid, "a page could not be rendered")
	}
	return PageImage{Data: data, ContentType: "image/png", Width: cfg.Width, Height: cfg.Height}, nil
}

// run runs one command under ctx: when ctx ends the process is killed and
// run returns ctx's error.
func run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = time.Second // do not wait on pipes after a kill
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, exec.ErrNotFound) {
		return nil, qun.Errorf(qun.CodeUnavailable, "PDF conversion is not installed on this server (poppler-utils)")
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil, qun.Errorf(qun.CodeInvalid, "not a readable PDF")
	}
	if err != nil {
		return nil, err
	}
	return stdout.Bytes(), nil
}
