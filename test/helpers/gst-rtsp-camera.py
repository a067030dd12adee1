#!/usr/bin/python3
"""A real RTSP camera for camgate's interop tests, built on GStreamer's RTSP server.

Run with Debian's /usr/bin/python3 (it has the `gi` bindings for GstRtspServer 1.0).
Prints exactly one line `READY <port>` on stdout once the server is listening, then
serves until SIGTERM/SIGINT. Everything else (errors, GStreamer warnings) goes to stderr.

Example:
  /usr/bin/python3 test/helpers/gst-rtsp-camera.py --port 8554 \
      --mount /cam=h264+aac --mount /hevc=h265+pcma --auth digest --user u --password p
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

VIDEO_CODECS = ("h264", "h265", "mjpeg")
AUDIO_CODECS = ("aac", "pcma", "pcmu", "opus")
ROLE = "camera-user"


# --stamp: the capture wall clock (Unix ms) is painted into each frame as STAMP_BITS black/white
# blocks, STAMP_COLS per row, in a band at the top of the picture: 44 bits of milliseconds then a
# 4-bit checksum (sum of the eleven 4-bit groups, mod 16). Big blocks survive H.264 at modest bitrates;
# a page decodes them from a canvas to measure glass-to-glass latency (bench/hls.ts).
STAMP_BITS = 48
STAMP_COLS = 16
STAMP_ROWS = STAMP_BITS // STAMP_COLS


def stamp_bits(ms: int) -> list:
    ms &= (1 << 44) - 1
    check = sum((ms >> (4 * i)) & 0xF for i in range(11)) & 0xF
    value = (ms << 4) | check
    return [(value >> (STAMP_BITS - 1 - i)) & 1 for i in range(STAMP_BITS)]


def stamp_geometry(width: int, height: int) -> tuple:
    """Block width and height in pixels (even, so the 4:2:0 chroma planes line up)."""
    bw = (width // STAMP_COLS) & ~1
    bh = max(8, (height // 5 // STAMP_ROWS) & ~1)
    return bw, bh


def start_stamped_source(appsrc, width: int, height: int, fps: int) -> "callable":
    """Feeds `appsrc` with I420 frames carrying the wall clock, one every 1/fps s; returns stop().

    GStreamer buffers that Python sees in a pad probe are not writable (the binding holds a second
    reference), so the frames are made here instead: the clock is read right before the frame is
    pushed, which is the "capture" moment of this camera.
    """
    import threading
    import time

    bw, bh = stamp_geometry(width, height)
    ysize = width * height
    csize = (width // 2) * (height // 2)
    # dark grey picture, neutral chroma; a white square moves across it so the encoder sees motion
    base = bytearray([40]) * ysize + bytearray([128]) * (2 * csize)
    white, black = bytes([235]) * bw, bytes([16]) * bw
    sq = max(16, height // 8) & ~1
    stop = threading.Event()
    wanted = threading.Event()
    appsrc.connect("need-data", lambda *_a: wanted.set())
    # The RTSP server seeks the whole pipeline on PLAY (npt=0-) when the other stream (audiotestsrc)
    # is seekable; a live camera just accepts that and carries on.
    appsrc.connect("seek-data", lambda *_a: True)

    def run():
        # The running time (and so the first PTS) only means something once the pipeline plays.
        while not (wanted.is_set() and appsrc.get_state(0)[1] == Gst.State.PLAYING and appsrc.get_clock()):
            if stop.wait(0.02):
                return
        period = 1.0 / fps
        # Regular timestamps (n × frame period from the first frame), as a camera's encoder clock
        # gives them, however late the thread gets to push a frame on a loaded machine.
        pts0 = appsrc.get_clock().get_time() - appsrc.get_base_time()
        t_next = time.monotonic()
        n = 0
        while not stop.is_set():
            frame = bytearray(base)
            x = (n * 4) % max(1, width - sq)
            y0 = height // 2
            for y in range(y0, y0 + sq):
                o = y * width + x
                frame[o:o + sq] = bytes([235]) * sq
            for i, bit in enumerate(stamp_bits(int(time.time() * 1000))):
                x0, y0 = (i % STAMP_COLS) * bw, (i // STAMP_COLS) * bh
                fill = white if bit else black
                for y in range(y0, y0 + bh):
                    o = y * width + x0
                    frame[o:o + bw] = fill
            buf = Gst.Buffer.new_wrapped(bytes(frame))
            buf.pts = pts0 + n * Gst.SECOND // fps
            buf.duration = Gst.SECOND // fps
            if appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                break
            n += 1
            t_next += period
            delay = t_next - time.monotonic()
            if delay > 0:
                stop.wait(delay)

    threading.Thread(target=run, daemon=True).start()
    return stop.set


def video_branch(codec: str, width: int, height: int, fps: int, gop: int, stamp: bool = False) -> str:
    # A live source so timestamps follow the wall clock like a real camera; "ball" is cheap to render.
    src = (
        f"videotestsrc is-live=true pattern=ball ! "
        f"video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 ! "
        f"timeoverlay font-desc=\"Sans 10\" ! "
    )
    if stamp:
        # Frames made (and timestamped) by start_stamped_source.
        src = (
            # block + one-frame queues: a slow encoder (loaded machine) holds the generator back
            # instead of queueing frames, so a stamp is never older than one frame at encode time.
            f"appsrc name=stamp is-live=true format=time stream-type=seekable block=true "
            f"max-bytes={width * height * 3 // 2} "
            f"caps=video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 ! "
            f"queue max-size-buffers=1 max-size-bytes=0 max-size-time=0 ! "
        )
    if codec == "h264":
        # bframes=0: IP cameras do not send B-frames; config-interval=-1 repeats SPS/PPS before each IDR.
        enc = (
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bframes=0 ! "
            f"video/x-h264,profile=baseline ! "
            f"rtph264pay name=pay0 pt=96 config-interval=-1"
        )
    elif codec == "h265":
        enc = (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} ! "
            f"rtph265pay name=pay0 pt=96 config-interval=-1"
        )
    elif codec == "mjpeg":
        enc = "jpegenc quality=50 ! rtpjpegpay name=pay0 pt=26"
    else:
        raise ValueError(f"unknown video codec {codec!r}")
    return src + enc


def audio_branch(codec: str) -> str:
    def src(rate: int) -> str:
        # 20 ms buffers, the usual packet time of cameras' audio.
        return (
            f"audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer={rate // 50} ! "
            f"audio/x-raw,rate={rate},channels=1 ! audioconvert ! audioresample ! "
        )

    if codec == "aac":
        return src(16000) + "avenc_aac ! rtpmp4gpay name=pay1 pt=97"
    if codec == "pcma":
        return src(8000) + "alawenc ! rtppcmapay name=pay1 pt=8"
    if codec == "pcmu":
        return src(8000) + "mulawenc ! rtppcmupay name=pay1 pt=0"
    if codec == "opus":
        return src(48000) + "opusenc ! rtpopuspay name=pay1 pt=111"
    raise ValueError(f"unknown audio codec {codec!r}")


def launch_line(spec: str, args: argparse.Namespace) -> str:
    parts = [p.strip().lower() for p in spec.split("+") if p.strip()]
    if not parts or parts[0] not in VIDEO_CODECS:
        raise ValueError(f"mount spec {spec!r}: must start with one of {VIDEO_CODECS}")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] not in AUDIO_CODECS):
        raise ValueError(f"mount spec {spec!r}: optional second part must be one of {AUDIO_CODECS}")
    branches = [video_branch(parts[0], args.width, args.height, args.fps, args.gop, args.stamp)]
    if len(parts) == 2:
        branches.append(audio_branch(parts[1]))
    return "( " + "  ".join(branches) + " )"


def parse_protocols(text: str) -> int:
    table = {
        "tcp": GstRtsp.RTSPLowerTrans.TCP,
        "udp": GstRtsp.RTSPLowerTrans.UDP,
        "udp-mcast": GstRtsp.RTSPLowerTrans.UDP_MCAST,
    }
    flags = 0
    for name in (p.strip().lower() for p in text.split(",") if p.strip()):
        if name not in table:
            raise ValueError(f"unknown protocol {name!r}; use tcp,udp,udp-mcast")
        flags |= int(table[name])
    if flags == 0:
        raise ValueError("no protocols given")
    return flags


def main() -> int:
    ap = argparse.ArgumentParser(description="GStreamer RTSP test camera")
    ap.add_argument("--port", type=int, default=0, help="0 = let the OS pick")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--mount", action="append", default=[], metavar="PATH=SPEC",
                    help="e.g. /cam=h264+aac (repeatable)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--gop", type=int, default=30, help="key frame interval in frames")
    ap.add_argument("--auth", choices=["none", "basic", "digest", "digest-sha256"], default="none")
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="admin")
    ap.add_argument("--realm", default="camgate-test")
    ap.add_argument("--protocols", default="tcp,udp")
    ap.add_argument("--stamp", action="store_true",
                    help="paint the capture wall clock (ms) into each frame as black/white blocks")
    args = ap.parse_args()

    if not args.mount:
        args.mount = ["/cam=h264"]
    if args.auth == "digest-sha256":
        # GstRTSPAuth (1.22) only implements MD5 digest; use the QuirkServer for SHA-256.
        print("digest-sha256 is not supported by GstRtspServer 1.x; use the QuirkServer", file=sys.stderr)
        return 2

    Gst.init(None)
    try:
        protocols = parse_protocols(args.protocols)
        mounts = []
        for m in args.mount:
            path, sep, spec = m.partition("=")
            if not sep or not path.startswith("/"):
                raise ValueError(f"--mount {m!r}: expected /path=spec")
            mounts.append((path, launch_line(spec, args)))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    server = GstRtspServer.RTSPServer()
    server.set_address(args.bind)
    server.set_service(str(args.port))

    permissions = None
    if args.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        auth.set_realm(args.realm)
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        if args.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(args.user, args.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)

    pool = None
    if protocols & int(GstRtsp.RTSPLowerTrans.UDP_MCAST):
        pool = GstRtspServer.RTSPAddressPool()
        # Once a factory has a pool, its unicast UDP server ports come from the pool too, so it
        # needs a unicast range beside the multicast one or every UDP SETUP fails.
        if not (pool.add_range("239.255.42.1", "239.255.42.100", 5000, 5100, 1)
                and pool.add_range(GstRtspServer.RTSP_ADDRESS_POOL_ANY_IPV4,
                                   GstRtspServer.RTSP_ADDRESS_POOL_ANY_IPV4, 40000, 49999, 0)):
            print("error: cannot create the address pool", file=sys.stderr)
            return 1

    mount_points = server.get_mount_points()
    for path, launch in mounts:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        # One encoder per mount shared by all clients, like a camera; keeps CPU low with many readers.
        factory.set_shared(True)
        factory.set_protocols(GstRtsp.RTSPLowerTrans(protocols))
        if pool is not None:
            factory.set_address_pool(pool)
        if permissions is not None:
            factory.set_permissions(permissions)
        if args.stamp:
            def on_configure(_factory, media):
                el = media.get_element().get_by_name("stamp")
                if el is not None:
                    stop = start_stamped_source(el, args.width, args.height, args.fps)
                    media.connect("unprepared", lambda *_a: stop())

            factory.connect("media-configure", on_configure)
        mount_points.add_factory(path, factory)
        print(f"mount {path}: {launch}", file=sys.stderr)

    if server.attach(None) == 0:
        print(f"error: cannot listen on {args.bind}:{args.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()

    def on_signal(*_a):
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, on_signal)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, on_signal)

    # Periodically drop sessions whose clients vanished without TEARDOWN, so restarts stay cheap.
    def cleanup():
        server.get_session_pool().cleanup()
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add_seconds(2, cleanup)

    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
