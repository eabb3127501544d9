"""The WeChat platform, reached only through wechatpy behind an async gateway."""
