"""Reader-facing endpoints of the library network: the map, the nearest libraries, one library's detail."""
