"""The browser client: a chat and developer's console page, the browser counterpart of `util connect`.

Static files only (HTML, CSS, JavaScript modules in `static/`), shipped as package data, so the local
stack serves the page from the installed package and `util web-deploy` uploads the same bytes to S3.
`page.py` is what both agree on: which files, their content types, the security headers, config.json.
"""
