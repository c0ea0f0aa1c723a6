"""`ganlab lab`: ganlab's own training, live in the browser (after poloclub's GAN Lab).

session.py   LabSession: a Config, its TrainState, Algorithm 1 in a thread, controls, frames
frames.py    what a frame shows (D heatmap or curve, D*, samples, manifold, arrows, JSD/KL)
server.py    the FastAPI app: the page, POST /api/control, frames over a WebSocket
static/      index.html and lab.js: the page (canvas drawing, no build step, no network)
"""
