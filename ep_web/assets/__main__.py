from ep_web.assets import main

main()
