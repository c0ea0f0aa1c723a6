"""The live page of `ganlab lab`: ganlab's own training in the browser (after poloclub's GAN Lab).

session.py   LabSession: a Config, its TrainState, Algorithm 1 in a thread, the controls applied,
             frames handed to every listener
controls.py  the control messages and their validation, the datasets and their defaults, the
             page's settings <-> Config
updates.py   the one-update buttons: one D update, one G update (algorithm1's own calls)
charts.py    the training and frame charts and the newest value of each series
rundir.py    a session saved as a ganlab run directory, and one read back
frames.py    what a frame shows (D heatmap or curve, D*, samples, manifold, arrows, JSD/KL)
densities.py the view and its grid, the kernel estimate of p_g, p_data smoothed alike, JSD and KL
classes.py   a conditional run's frame: G(z, y) and D(x, y) for the class picked or for all
server.py    the FastAPI app: the page, POST /api/control, frames over a WebSocket
static/      index.html and lab.js: the page (canvas drawing, no build step, no network)
"""
