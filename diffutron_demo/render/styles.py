"""The app's CSS, from the one palette."""

from . import palette

CSS = f"""
.dd-canvas{{font-family:ui-monospace,Menlo,monospace;line-height:1.9;font-size:14px}}
.dd-tok{{display:inline-block;padding:1px 2px;margin:0 1px;border-radius:3px;white-space:pre-wrap}}
.dd-mask{{color:{palette.MASK_FG};background:{palette.MASK_BG}}}
.dd-now{{box-shadow:0 0 0 2px {palette.NOW}}}
.dd-caption{{font-size:12px;opacity:.75;margin-bottom:4px}}
.dd-rule{{margin:4px 0}}
.dd-table{{font-size:13px;border-collapse:collapse}}
.dd-table td,.dd-table th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}}
.dd-cut td{{border-bottom:3px solid {palette.NOW}}}
.dd-forced{{color:{palette.FORCED};margin-top:6px}}
.dd-bar{{display:flex;height:14px;border:1px solid #ccc;border-radius:4px;overflow:hidden}}
.dd-diff{{background:{palette.DIFF}}}
.dd-banner{{padding:8px 12px;border-radius:6px;background:{palette.BANNER_BG};border:1px solid {palette.BANNER_EDGE}}}
"""
