"""The library network (一网一卡一平台): libraries, their levels, places, hours and services."""
