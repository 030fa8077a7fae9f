package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/qunkit/qun/examples/internal/demo"
	"github.com/qunkit/qun/examples/internal/e2e"
	"github.com/qunkit/qun/internal/browser"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startApp(t *testing.T) string {
	return e2e.Serve(t, func(base string) (http.Handler, func(context.Context) error, error) {
		a, err := newApp(config{DataDir: t.TempDir(), BaseURL: base, Network: demo.Flags{}.Network()})
		if err != nil {
			return nil, nil, err
		}
		return a.handler, a.Shutdown, nil
	})
}

// frames is how many frames the video element selector names has decoded.
func frames(selector string) string {
	return `(() => { const v = document.querySelector(` + e2e.JS(selector) + `); return v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0; })()`
}

// TestClassInBrowser is a whole class, as a teacher and a student would
// have it in two browser windows: the teacher starts the class on camera,
// uploads courseware and draws; the student sees the video, the page and
// the stroke, watches a screen share, asks a question that the teacher
// answers and features, raises a hand, comes on stage and draws with the
// pen the teacher gives; the teacher ends the class and keeps the replay,
// which the student then watches with the board in sync.
func TestClassInBrowser(t *testing.T) {
	b := browser.Launch(t)
	base := startApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	begin := time.Now()

	teacher := e2e.Login(t, ctx, b, base, "teacher", "/class.html")
	teacher.Wait(e2e.Visible("#start-class"))
	teacher.Shot("lobby")
	teacher.Click("#start-class")
	teacher.Wait(`window.classroom.live && window.classroom.live.publishing && window.classroom.board && window.classroom.board.model.pages.length === 1`)

	amy := e2e.Login(t, ctx, b, base, "amy", "/class.html")
	amy.Wait(e2e.Visible("#enter-class"))
	amy.Shot("lobby")
	amy.Click("#enter-class")
	// The student sees the teacher: frames decoded, not just connected.
	amy.Wait(frames(`#stage video[data-user=teacher][data-source=camera]`) + ` > 15`)
	teacher.Shot("class-started")

	// Courseware: a 3-page PDF becomes pages; everyone turns to the first.
	teacher.Click("#sample")
	teacher.Wait(`window.classroom.board.model.pages.length === 4 && window.classroom.board.model.cur === window.classroom.board.model.pages[1].id`)
	amy.Wait(`(() => { const b = window.classroom.board; return b && b.model.cur === b.model.pages[1]?.id && [...b.view.images.values()].some(Boolean); })()`)

	// The teacher draws a red stroke across the title page's blue.
	teacher.Draw("#board", [][2]float64{{0.1, 0.8}, {0.15, 0.8}, {0.2, 0.8}, {0.25, 0.8}, {0.3, 0.8}, {0.35, 0.8}, {0.4, 0.8}, {0.45, 0.8}})
	red := `r > 180 && g < 90 && b < 90`
	amy.Wait(`window.classroom.board.model.current.items.some(it => it.k === "stroke" && it.by === "teacher")`)
	amy.Wait(e2e.Pixel("#board", 0.3, 0.8, red))
	teacher.Shot("courseware-and-stroke")
	amy.Shot("sees-stroke")

	// Shapes, undo and redo, the eraser, text and the laser pointer.
	hasItem := func(test string) string {
		return `window.classroom.board.model.current.items.some(it => ` + test + `)`
	}
	teacher.Click(`[data-tool=rect]`)
	teacher.Draw("#board", [][2]float64{{0.55, 0.55}, {0.6, 0.6}, {0.7, 0.7}})
	amy.Wait(hasItem(`it.k === "shape" && it.shape === "rect"`))
	teacher.Click("#undo")
	amy.Wait(`!` + hasItem(`it.k === "shape"`))
	teacher.Click("#redo")
	amy.Wait(hasItem(`it.k === "shape"`))
	teacher.Click(`[data-tool=eraser]`)
	teacher.Draw("#board", [][2]float64{{0.6, 0.62}, {0.62, 0.62}, {0.64, 0.62}})
	amy.Wait(`!` + hasItem(`it.k === "shape"`) + ` && ` + hasItem(`it.k === "stroke"`))
	teacher.Click(`[data-tool=text]`)
	teacher.Draw("#board", [][2]float64{{0.6, 0.2}})
	teacher.Wait(e2e.Visible("#text-dialog textarea"))
	teacher.Fill("#text-dialog textarea", "goroutine 很便宜")
	teacher.Click("#text-dialog button.primary")
	amy.Wait(hasItem(`it.k === "text" && it.text === "goroutine 很便宜"`))
	teacher.Click(`[data-tool=laser]`)
	teacher.Do(`(() => { const c = document.querySelector("#board"), r = c.getBoundingClientRect();
		const ev = (type, x) => c.dispatchEvent(new PointerEvent(type, { bubbles: true, pointerId: 2, pointerType: "mouse", buttons: type === "pointerup" ? 0 : 1, clientX: r.left + x * r.width, clientY: r.top + 0.5 * r.height }));
		ev("pointerdown", 0.5); ev("pointermove", 0.52); window.laserUp = () => ev("pointerup", 0.52); })()`)
	amy.Wait(`window.classroom.board.model.lasers.has("teacher")`)
	amy.Shot("laser-and-text")
	teacher.Do(`window.laserUp()`)
	amy.Wait(`!window.classroom.board.model.lasers.has("teacher")`)
	teacher.Click(`[data-tool=pen]`)

	// A late student gets the board as it is now (the page the teacher
	// turned to), and a page's strokes when the teacher turns back to it.
	teacher.Click("#next")
	teacher.Wait(`window.classroom.board.model.cur === window.classroom.board.model.pages[2].id`)
	bo := e2e.Login(t, ctx, b, base, "bo", "/class.html")
	bo.Wait(e2e.Visible("#enter-class"))
	bo.Click("#enter-class")
	bo.Wait(`(() => { const b = window.classroom.board; return b && b.model.pages.length === 4 && b.model.cur === b.model.pages[2].id && b.model.pages[1].items === null; })()`)
	teacher.Click("#prev")
	bo.Wait(e2e.Pixel("#board", 0.3, 0.8, red) + ` && window.classroom.board.model.current.items.some(it => it.k === "text")`)
	bo.Shot("late-joiner")
	if err := bo.P.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Screen share: the student's view switches to the teacher's screen.
	teacher.Click("#share-screen")
	amy.Wait(e2e.Visible("#screen-view video[data-source=screen]") + ` && ` + frames(`#screen-view video[data-source=screen]`) + ` > 5`)
	amy.Shot("screen-share")
	teacher.Click("#share-screen")
	amy.Wait(e2e.Visible("#board"))

	// Q&A: a question, the teacher's answer, featured for everyone.
	amy.Fill("#ask-text", "goroutine 和线程有什么区别？ How are goroutines different from threads?")
	amy.Click("#ask-form button")
	teacher.Wait(`document.querySelector(".question .q")?.textContent.includes("goroutine")`)
	teacher.Fill(".question .answer-form input", "goroutine 由 Go 运行时调度，很轻量 Goroutines are scheduled by the Go runtime and are cheap")
	teacher.Click(".question .answer-form button")
	teacher.Wait(`document.querySelector(".question .a")`)
	teacher.Click(`.question [data-act=feature]`)
	amy.Wait(`document.querySelector(".question.featured .a")?.textContent.includes("Go 运行时")`)
	amy.Shot("qa-featured")

	// A raised hand: on stage, on camera, then a pen to draw with.
	amy.Click("#hand")
	teacher.Click(`[data-tab=hands]`)
	teacher.Wait(`document.querySelector(".hand[data-user=amy] [data-act=accept]")`)
	teacher.Shot("raised-hand")
	teacher.Click(`.hand[data-user=amy] [data-act=accept]`)
	teacher.Wait(frames(`#stage video[data-user=amy][data-source=camera]`) + ` > 10`)
	teacher.Click(`.hand[data-user=amy] [data-act=pen]`)
	amy.Wait(e2e.Visible("#tools"))
	amy.Click(`[data-tool=highlighter]`)
	amy.Draw("#board", [][2]float64{{0.6, 0.3}, {0.65, 0.32}, {0.7, 0.34}, {0.75, 0.36}, {0.8, 0.38}})
	teacher.Wait(`window.classroom.board.model.current.items.some(it => it.by === "amy" && it.tool === "highlighter")`)
	teacher.Shot("student-on-stage")
	amy.Shot("on-stage-drawing")

	// The teacher ends the class and keeps the replay.
	teacher.Click("#end-class")
	teacher.Click("#end-class")
	teacher.Wait(e2e.Visible("#keep-replay"))
	teacher.Shot("class-over")
	teacher.Click("#keep-replay")
	teacher.Wait(`document.querySelector("[data-replay][data-state=kept]")`)

	// The student watches the replay: video frames, the board with the
	// teacher's stroke, the featured answer on the timeline.
	amy.Wait(`document.querySelector("[data-replay][data-state=kept] a")`)
	amy.Shot("replays")
	amy.Click(`[data-replay][data-state=kept] a`)
	amy.Wait(`location.pathname === "/replay.html" && window.replay && window.replay.player.manifest`)
	amy.Wait(frames(`.replay-stage video[data-source=camera]`) + ` > 10`)
	amy.Do(`window.replay.player.seek(window.replay.player.duration)`)
	amy.Wait(e2e.Pixel("#board", 0.3, 0.8, red) + ` && window.replayBoard().current.items.some(it => it.by === "amy" && it.tool === "highlighter")`)
	amy.Wait(`[...document.querySelectorAll("#feed .feed-line")].some(l => l.textContent.includes("精选问答"))`)
	amy.Shot("replay")
	t.Logf("class story took %s", time.Since(begin).Round(time.Second))
}
