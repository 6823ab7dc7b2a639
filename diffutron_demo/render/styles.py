"""The app's CSS, from the one palette: readable in Gradio's light and dark themes and on a phone."""

from . import palette
from .player import CSS as PLAYER_CSS

CSS = f"""
.dd-canvas{{font-family:ui-monospace,Menlo,monospace;line-height:1.9;font-size:14px;overflow-wrap:anywhere}}
.dd-tok{{display:inline-block;padding:1px 2px;margin:0 1px;border-radius:3px;white-space:pre-wrap}}
.dd-mask{{color:{palette.MASK_FG};background:{palette.MASK_BG}}}
.dd-pick{{cursor:pointer;border:1px solid {palette.MASK_FG};font:inherit}}
.dd-pick:hover,.dd-pick:focus-visible{{outline:2px solid {palette.NOW};outline-offset:1px}}
.dd-now{{box-shadow:0 0 0 2px {palette.NOW}}}
.dd-caption{{font-size:12px;opacity:.8;margin-bottom:4px}}
.dd-rule{{margin:4px 0}}
.dd-scroll{{overflow-x:auto;max-width:100%}}
.dd-table{{font-size:13px;border-collapse:collapse}}
.dd-table td,.dd-table th{{padding:2px 8px;border-bottom:1px solid {palette.MUTED};text-align:left}}
.dd-cut td{{border-bottom:3px solid {palette.NOW}}}
.dd-forced{{color:{palette.FORCED};margin-top:6px}}
.dd-bar{{display:flex;height:14px;border:1px solid {palette.MUTED};border-radius:4px;overflow:hidden}}
.dd-diff{{background:{palette.DIFF};color:#000}}
.dd-banner{{padding:6px 12px;border-radius:6px;background:{palette.BANNER_BG};border:1px solid {palette.BANNER_EDGE};
  color:#2b2118}}
.dd-model{{padding:6px 0;font-weight:600}}
/* On a phone the chat tab reads: the message box, the player (the text being written, the heatmap),
   then the conversation and the settings, so nothing the run shows is below the settings. */
@media (max-width: 768px){{
  .dd-chat-row{{flex-direction:column;flex-wrap:nowrap}}
  .dd-chat-row>.dd-viewer-col,.dd-chat-col>*{{width:100%;max-width:100%;min-width:0;margin-left:0;margin-right:0}}
  .dd-chat-col{{display:contents}}
  .dd-chat-col>*{{order:4}}
  .dd-chat-col>.dd-input,.dd-chat-col>.form:has(.dd-input){{order:1}}
  .dd-viewer-col{{order:2}}
  .dd-chat-col>.dd-history{{order:3}}
}}
/* Plots are drawn on a transparent background; in the dark theme their text turns light. */
.dark .js-plotly-plot .main-svg text{{fill:#e5e7eb !important}}
.dark .js-plotly-plot .main-svg .hovertext text{{fill:#111 !important}}
""" + PLAYER_CSS
