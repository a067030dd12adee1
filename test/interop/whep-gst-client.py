#!/usr/bin/env python3
"""An independent WHEP client: GStreamer webrtcbin (libnice ICE, its own DTLS/SRTP) offers recvonly
H.264 (+ Opus), POSTs to camgate, decodes what arrives and prints one JSON line of counts.

usage: whep-gst-client.py URL SECONDS
"""
import json
import sys
import threading
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

Gst.init(None)
url, seconds = sys.argv[1], float(sys.argv[2])
loop = GLib.MainLoop()
result = {"videoFrames": 0, "audioBuffers": 0, "width": 0, "height": 0, "status": 0, "error": None}

pipe = Gst.Pipeline.new("whep")
webrtc = Gst.ElementFactory.make("webrtcbin", "w")
webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
pipe.add(webrtc)

vcaps = Gst.Caps.from_string("application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,packetization-mode=(string)1,profile-level-id=(string)640c1f,level-asymmetry-allowed=(string)1")
acaps = Gst.Caps.from_string("application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2")
webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, vcaps)
webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, acaps)


def count_video(pad, info):
    result["videoFrames"] += 1
    caps = pad.get_current_caps()
    if caps:
        s = caps.get_structure(0)
        result["width"] = s.get_value("width") or 0
        result["height"] = s.get_value("height") or 0
    return Gst.PadProbeReturn.OK


def count_audio(pad, info):
    result["audioBuffers"] += 1
    return Gst.PadProbeReturn.OK


def on_decoded(_dbin, pad):
    caps = pad.get_current_caps() or pad.query_caps(None)
    name = caps.get_structure(0).get_name()
    sink = Gst.ElementFactory.make("fakesink")
    sink.set_property("sync", False)
    pipe.add(sink)
    sink.sync_state_with_parent()
    pad.link(sink.get_static_pad("sink"))
    if name.startswith("video/"):
        pad.add_probe(Gst.PadProbeType.BUFFER, count_video)
    elif name.startswith("audio/"):
        pad.add_probe(Gst.PadProbeType.BUFFER, count_audio)


def on_pad(_w, pad):
    if pad.direction != Gst.PadDirection.SRC:
        return
    dec = Gst.ElementFactory.make("decodebin")
    dec.connect("pad-added", on_decoded)
    pipe.add(dec)
    dec.sync_state_with_parent()
    pad.link(dec.get_static_pad("sink"))


def post_offer():
    offer = webrtc.get_property("local-description").sdp.as_text()
    req = urllib.request.Request(url, data=offer.encode(), method="POST", headers={"Content-Type": "application/sdp"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            result["status"] = r.status
            answer = r.read().decode()
    except Exception as e:  # noqa: BLE001
        result["error"] = str(e)
        GLib.idle_add(loop.quit)
        return
    _, msg = GstSdp.SDPMessage.new_from_text(answer)
    desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
    GLib.idle_add(lambda: webrtc.emit("set-remote-description", desc, Gst.Promise.new()) and False)


def on_gathering(w, _p):
    if w.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not result.get("posted"):
        result["posted"] = True
        threading.Thread(target=post_offer, daemon=True).start()


def on_offer(promise, _w, _d):
    reply = promise.get_reply()
    offer = reply.get_value("offer")
    webrtc.emit("set-local-description", offer, Gst.Promise.new())


def on_negotiation(w):
    w.emit("create-offer", None, Gst.Promise.new_with_change_func(on_offer, w, None))


webrtc.connect("on-negotiation-needed", on_negotiation)
webrtc.connect("pad-added", on_pad)
webrtc.connect("notify::ice-gathering-state", on_gathering)
pipe.set_state(Gst.State.PLAYING)
GLib.timeout_add(int(seconds * 1000), loop.quit)
loop.run()
pipe.set_state(Gst.State.NULL)
result.pop("posted", None)
print(json.dumps(result), flush=True)
